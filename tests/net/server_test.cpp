// Promises of <grove/net/server.hpp>: a fiber per connection, the connection limit (excess
// connections wait in the backlog), graceful stop, serve(), and the back-off on EMFILE.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>  // first: the header is self-contained
#include <string>
#include <vector>

#include "../throws.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace net = grove::net;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

void echo_lines(net::tcp_stream conn) {
  for (;;) {
    auto line = conn.read_until("\n");
    if (line.empty()) return;
    conn.write_all(line);
  }
}

std::uint16_t port_of(net::server& s) { return s.listener().local_endpoint().port(); }
}  // namespace

TEST_CASE("a server runs each connection in its own fiber") {
  grove::run([] {
    net::server s(net::tcp_listener::bind("127.0.0.1", 0), echo_lines);
    s.start();
    std::vector<net::tcp_stream> clients;
    for (int i = 0; i < 5; ++i)
      clients.push_back(net::tcp_stream::connect("127.0.0.1", port_of(s)));
    for (int i = 0; i < 5; ++i) {
      clients[i].write_all("hello " + std::to_string(i) + "\n");
      std::string echoed = clients[i].read_until("\n");
      CHECK(echoed == "hello " + std::to_string(i) + "\n");
    }
    CHECK(s.connection_count() == 5);
    clients.clear();  // each handler reads end of stream and returns
    for (int i = 0; i < 100 && s.connection_count() > 0; ++i) grove::this_fiber::sleep_for(1ms);
    CHECK(s.connection_count() == 0);
    s.stop();
  });
}

TEST_CASE("max_connections: excess connections wait in the backlog and are served later") {
  grove::run([] {
    std::size_t active = 0, peak = 0;
    net::server_options options;
    options.max_connections = 2;
    net::server s(
        net::tcp_listener::bind("127.0.0.1", 0),
        [&](net::tcp_stream conn) {
          ++active;
          peak = std::max(peak, active);
          conn.write_all("welcome\n");
          conn.read_until("\n");  // until the client says bye
          --active;
        },
        options);
    s.start();
    std::vector<net::tcp_stream> clients;
    for (int i = 0; i < 5; ++i)
      clients.push_back(net::tcp_stream::connect("127.0.0.1", port_of(s)));
    // Two are served; three wait, connected, in the listener's backlog.
    std::string greeting = clients[0].read_until("\n");
    CHECK(greeting == "welcome\n");
    greeting = clients[1].read_until("\n");
    CHECK(greeting == "welcome\n");
    clients[2].set_timeout(50ms);
    bool timed_out = grove_test::throws<net::net_error>([&] { clients[2].read_until("\n"); });
    CHECK(timed_out);
    CHECK(s.connection_count() == 2);
    for (int i = 0; i < 5; ++i) {
      clients[i].set_timeout(5s);
      if (i >= 2) {
        greeting = clients[i].read_until("\n");
        CHECK(greeting == "welcome\n");
      }
      clients[i].write_all("bye\n");
    }
    CHECK(peak == 2);
    s.stop();
  });
}

TEST_CASE(
    "graceful stop: no new connections, handlers finish within the grace, the rest are killed") {
  grove::run([] {
    bool quick_finished = false, slow_killed = false;
    net::server s(net::tcp_listener::bind("127.0.0.1", 0), [&](net::tcp_stream conn) {
      auto request = conn.read_until("\n");
      if (request == "quick\n") {
        grove::this_fiber::sleep_for(50ms);
        conn.write_all("done\n");
        quick_finished = true;
        return;
      }
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        slow_killed = true;
        throw;
      }
    });
    s.start();
    auto port = port_of(s);
    auto quick = net::tcp_stream::connect("127.0.0.1", port);
    auto slow = net::tcp_stream::connect("127.0.0.1", port);
    quick.write_all("quick\n");
    slow.write_all("slow\n");
    grove::this_fiber::sleep_for(10ms);
    CHECK(s.connection_count() == 2);
    auto start = clock_type::now();
    s.stop(200ms);
    double took = ms_since(start);
    CHECK(took >= 190);
    CHECK(took < 1000);
    CHECK(quick_finished);
    CHECK(slow_killed);
    CHECK(s.connection_count() == 0);
    std::string answer = quick.read_until("\n");
    CHECK(answer == "done\n");
    bool refused =
        grove_test::throws<net::net_error>([&] { net::tcp_stream::connect("127.0.0.1", port); });
    CHECK(refused);
  });
}

TEST_CASE("serve_forever returns after stop from another fiber; serve() ends when killed") {
  grove::run([] {
    net::server s(net::tcp_listener::bind("127.0.0.1", 0), echo_lines);
    auto stopper = grove::spawn([&] {
      grove::this_fiber::sleep_for(20ms);
      s.stop();
    });
    auto start = clock_type::now();
    s.serve_forever();
    CHECK(ms_since(start) >= 15);
    stopper.get();

    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto port = listener.local_endpoint().port();
    auto serving = grove::spawn([&] { net::serve(std::move(listener), echo_lines); });
    auto conn = net::tcp_stream::connect("127.0.0.1", port);
    conn.write_all("x\n");
    std::string echoed = conn.read_until("\n");
    CHECK(echoed == "x\n");
    serving.kill();
    serving.join();  // stopped gracefully: the open connection's handler got its grace, then died
    echoed = conn.read_until("\n");
    CHECK(echoed.empty());
  });
}

TEST_CASE("a handler may stop its own server") {
  grove::run([] {
    net::server* self = nullptr;
    net::server s(net::tcp_listener::bind("127.0.0.1", 0), [&](net::tcp_stream conn) {
      conn.read_until("\n");
      self->stop();
      conn.write_all("stopped\n");
    });
    self = &s;
    s.start();
    auto conn = net::tcp_stream::connect("127.0.0.1", port_of(s));
    conn.write_all("shutdown\n");
    std::string answer = conn.read_until("\n");
    CHECK(answer == "stopped\n");
  });
}

TEST_CASE(
    "EMFILE: the server backs off instead of spinning, keeps serving its connections, and "
    "recovers when descriptors return") {
  grove::run([] {
    net::server_options options;
    options.log_errors = false;
    options.max_connections = 2;  // two early connections hold the slots: the rest stay queued
    net::server s(net::tcp_listener::bind("127.0.0.1", 0), echo_lines, options);
    auto port = port_of(s);
    s.start();
    auto early = net::tcp_stream::connect("127.0.0.1", port);
    auto freeing = net::tcp_stream::connect("127.0.0.1", port);
    early.set_timeout(3s);
    freeing.set_timeout(3s);
    early.write_all("early\n");
    freeing.write_all("freeing\n");
    std::string echoed = early.read_until("\n");
    REQUIRE(echoed == "early\n");
    echoed = freeing.read_until("\n");
    REQUIRE(echoed == "freeing\n");
    std::vector<net::tcp_stream> clients;  // connected in the backlog before the limit drops
    for (int i = 0; i < 3; ++i) clients.push_back(net::tcp_stream::connect("127.0.0.1", port));

    // No new descriptor from here: a soft limit below the descriptors already open (allowed:
    // those stay valid) with any hole under it filled. A descriptor closed now has a number
    // above the limit, so it cannot be reused either.
    ::rlimit original;
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
    ::rlimit lowered = original;
    lowered.rlim_cur = 3;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    std::vector<int> fillers;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);

    ::rusage before, after;
    ::getrusage(RUSAGE_SELF, &before);
    // A slot frees (the handler of `freeing` ends): the acceptor accepts again, and accept
    // fails with EMFILE, again and again.
    freeing.close();
    grove::this_fiber::sleep_for(300ms);
    ::getrusage(RUSAGE_SELF, &after);
    CHECK(s.connection_count() == 1);
    auto cpu_us = [](const ::rusage& r) {
      return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec +
             r.ru_stime.tv_usec;
    };
    CHECK(cpu_us(after) - cpu_us(before) < 100e3);  // far from a busy loop over 300 ms
    // The connection it already had is still served while accept fails.
    early.write_all("still served\n");
    echoed = early.read_until("\n");
    CHECK(echoed == "still served\n");

    for (int fd : fillers) ::close(fd);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &original) == 0);
    early.close();
    for (std::size_t i = 0; i < clients.size(); ++i) {
      clients[i].set_timeout(3s);
      clients[i].write_all("back " + std::to_string(i) + "\n");
      echoed = clients[i].read_until("\n");
      CHECK(echoed == "back " + std::to_string(i) + "\n");
      clients[i].close();  // frees its slot for the next
    }
    s.stop();
  });
}
