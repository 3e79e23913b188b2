// Promises of <grove/net/sharded_server.hpp>: a share per hub on one SO_REUSEPORT address, the
// kernel spreading connections over them, a stop from any thread stopping every share
// gracefully. Suite 'threads' (TSan). (10k connections over two hubs: many_connections_test.)
#include <grove/net/sharded_server.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <grove/cores.hpp>
#include <grove/event.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

/// Replies with the core that handles the connection, then echoes lines.
void say_core_then_echo(net::tcp_stream conn) {
  conn.write_all("core " + std::to_string(grove::this_core::index()) + "\n");
  try {
    for (;;) {
      std::string line = conn.read_until("\n");
      if (line.empty()) return;
      conn.write_all(line);
    }
  } catch (const net::net_error&) {
  }
}

bool refused(std::uint16_t port) {
  try {
    net::tcp_stream::connect("127.0.0.1", port, 5s);
    return false;
  } catch (const net::net_error& e) {
    return e.code() == std::errc::connection_refused;
  }
}

}  // namespace

TEST_CASE("connections are spread over every hub that serves, and stop() ends every share") {
  net::sharded_server server("127.0.0.1", 0, say_core_then_echo);
  REQUIRE(server.port() != 0);  // resolved before any hub exists
  std::array<int, 2> per_core{};
  grove::run_on_cores(2, [&](std::size_t core) {
    if (core == 1) return server.serve();
    auto share = grove::spawn([&] { server.serve(); });
    bool serving = server.wait_serving_for(2, 10s);
    REQUIRE(serving);
    std::vector<grove::fiber<void>> clients;
    for (int i = 0; i < 64; ++i) {
      clients.push_back(grove::spawn([&, i] {
        auto conn = net::tcp_stream::connect("127.0.0.1", server.port(), 10s);
        std::string who = conn.read_until("\n");
        REQUIRE((who == "core 0\n" || who == "core 1\n"));
        ++per_core[who == "core 0\n" ? 0 : 1];
        std::string line = "line " + std::to_string(i) + "\n";
        conn.write_all(line);
        std::string echoed = conn.read_until("\n");
        CHECK(echoed == line);
      }));
    }
    for (auto& c : clients) c.get();
    server.stop();
    server.wait_stopped();  // every hub's share, not only this one's
    CHECK(server.shares() == 0);
    bool was_refused = refused(server.port());
    CHECK(was_refused);  // the reservation never listens
    share.join();
  });
  MESSAGE("core 0 took " << per_core[0] << " connections, core 1 " << per_core[1]);
  CHECK(per_core[0] + per_core[1] == 64);
  CHECK(per_core[0] > 0);  // 64 connections all hashed to one listener: 1 in 2^63
  CHECK(per_core[1] > 0);
}

TEST_CASE("a stop from a plain thread lets every hub's handlers finish within the grace period") {
  std::atomic<int> finished{0};
  net::sharded_server server("127.0.0.1", 0, [&](net::tcp_stream conn) {
    conn.write_all("core " + std::to_string(grove::this_core::index()) + "\n");
    grove::this_fiber::sleep_for(200ms);  // work in progress when the stop arrives
    conn.write_all("done\n");
    ++finished;
  });
  std::array<int, 2> per_core{};
  grove::event all_started;  // core 0 only
  std::thread stopper;
  grove::run_on_cores(2, [&](std::size_t core) {
    if (core == 1) return server.serve();
    auto share = grove::spawn([&] { server.serve(); });
    bool serving = server.wait_serving_for(2, 10s);
    REQUIRE(serving);
    int started = 0;
    std::vector<grove::fiber<void>> clients;
    for (int i = 0; i < 40; ++i) {
      clients.push_back(grove::spawn([&] {
        auto conn = net::tcp_stream::connect("127.0.0.1", server.port(), 10s);
        std::string who = conn.read_until("\n");
        ++per_core[who == "core 0\n" ? 0 : 1];
        if (++started == 40) all_started.set();
        std::string line = conn.read_until("\n");
        CHECK(line == "done\n");  // the grace period let it finish
        line = conn.read_until("\n");
        CHECK(line.empty());  // then the server closed it
      }));
    }
    all_started.wait();
    auto begin = std::chrono::steady_clock::now();
    stopper = std::thread([&] {
      server.stop(10s);
      server.wait_stopped();  // a plain thread blocks until every share has stopped
    });
    for (auto& c : clients) c.get();
    share.join();
    CHECK(std::chrono::steady_clock::now() - begin < 8s);  // not the whole grace: they finished
  });
  stopper.join();
  grove::run([&] {
    bool was_refused = refused(server.port());
    CHECK(was_refused);
  });
  CHECK(finished == 40);
  CHECK(per_core[0] > 0);
  CHECK(per_core[1] > 0);
  CHECK(server.stop_requested());
}

TEST_CASE("handlers still running after the grace period are killed on every hub") {
  std::atomic<int> unwound{0};
  std::atomic<int> started{0};
  grove::event all_started(grove::cross_thread);  // set on either core, waited on core 0
  net::sharded_server server("127.0.0.1", 0, [&](net::tcp_stream) {
    struct count_unwind {
      std::atomic<int>& n;
      ~count_unwind() { ++n; }
    } guard{unwound};
    if (++started == 32) all_started.set();
    grove::this_fiber::sleep_for(60s);  // never finishes by itself
  });
  std::vector<net::tcp_stream> conns;
  grove::run_on_cores(2, [&](std::size_t core) {
    if (core == 1) return server.serve();
    auto share = grove::spawn([&] { server.serve(); });
    bool serving = server.wait_serving_for(2, 10s);
    REQUIRE(serving);
    for (int i = 0; i < 32; ++i)
      conns.push_back(net::tcp_stream::connect("127.0.0.1", server.port()));
    all_started.wait();
    auto begin = std::chrono::steady_clock::now();
    server.stop(100ms);
    share.join();
    CHECK(std::chrono::steady_clock::now() - begin < 10s);
    for (auto& c : conns) {
      std::string line = c.read_until("\n");
      CHECK(line.empty());  // closed by the killed handler
    }
    conns.clear();
  });
  CHECK(unwound == 32);
}

TEST_CASE("a serve() killed with its core stops its share; a failing core stops the others'") {
  net::sharded_server server("127.0.0.1", 0, say_core_then_echo);
  std::uint16_t port = server.port();
  CHECK_THROWS_AS(grove::run_on_cores(2,
                                      [&](std::size_t core) {
                                        if (core == 1) return server.serve();
                                        auto share = grove::spawn([&] { server.serve(); });
                                        bool serving = server.wait_serving_for(2, 10s);
                                        REQUIRE(serving);
                                        throw std::runtime_error("core 0 gives up");
                                      }),
                  grove::core_error);
  CHECK(server.shares() == 0);
  CHECK_FALSE(server.stop_requested());
  grove::run([&] {
    bool was_refused = refused(port);
    CHECK(was_refused);
  });
}

TEST_CASE("wait_serving waits for the hubs to accept, from a plain thread; stop() ends the wait") {
  net::sharded_server server("127.0.0.1", 0, say_core_then_echo);
  bool serving = server.wait_serving_for(1, 20ms);
  CHECK_FALSE(serving);  // nobody serves yet: times out
  std::atomic<bool> both_accepting{false};
  std::thread watcher([&] {
    both_accepting = server.wait_serving(2);
    CHECK(server.shares() == 2);
    // Every hub accepts now: connections from the first one on reach a listener.
    grove::run([&] {
      auto conn = net::tcp_stream::connect("127.0.0.1", server.port());
      conn.write_all("hello\n");
      std::string line = conn.read_until("\n");
      CHECK_FALSE(line.empty());  // the core's number
    });
    server.stop();
  });
  grove::run_on_cores(2, [&](std::size_t) { server.serve(); });
  watcher.join();
  CHECK(both_accepting);
  serving = server.wait_serving(0);
  CHECK(serving == false);  // stopped: the wait gives up at once
  // A wait in progress when stop() comes returns false.
  net::sharded_server idle("127.0.0.1", 0, say_core_then_echo);
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    idle.stop();
  });
  grove::run([&] {
    bool idle_serving = idle.wait_serving(1);
    CHECK_FALSE(idle_serving);
  });
  stopper.join();
}

TEST_CASE("serve() after stop() returns at once") {
  net::sharded_server server("127.0.0.1", 0, say_core_then_echo);
  server.stop();
  grove::run([&] { server.serve(); });
  CHECK(server.shares() == 0);
}

TEST_CASE("a busy port or a name instead of an address is reported at construction") {
  grove::run([] {
    auto taken = net::tcp_listener::bind("127.0.0.1", 0);  // no SO_REUSEPORT: nobody may share
    std::uint16_t port = taken.local_endpoint().port();
    CHECK_THROWS_WITH_AS(net::sharded_server("127.0.0.1", port, say_core_then_echo),
                         doctest::Contains("Address already in use"), net::net_error);
  });
  // A second sharded_server on the first one's port: busy too, not silently shared.
  net::sharded_server first("127.0.0.1", 0, say_core_then_echo);
  CHECK_THROWS_WITH_AS(net::sharded_server("127.0.0.1", first.port(), say_core_then_echo),
                       doctest::Contains("Address already in use"), net::net_error);
  grove::run_on_cores(1, [&](std::size_t) {
    auto share = grove::spawn([&] { first.serve(); });
    bool serving = first.wait_serving_for(1, 10s);
    REQUIRE(serving);
    CHECK_THROWS_WITH_AS(net::sharded_server("127.0.0.1", first.port(), say_core_then_echo),
                         doctest::Contains("Address already in use"), net::net_error);
    first.stop();
    share.join();
  });
  CHECK_THROWS_WITH_AS(net::sharded_server("localhost", 0, say_core_then_echo),
                       doctest::Contains("not a numeric IP address"), net::net_error);
}
