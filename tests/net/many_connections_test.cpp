// 10k concurrent connections against a grove echo server: the server in this process, the
// clients in a child process with its own hub (each side needs one descriptor a connection).
// Once with one hub (grove::net::server), once with two (grove::net::sharded_server on
// grove::run_on_cores: the kernel spreads the connections over the hubs' SO_REUSEPORT listeners).
// Scaled down, with a message, when RLIMIT_NOFILE is too low (test.sh raises it to the hard
// limit first).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <grove/cores.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>  // first: the header is self-contained
#include <grove/net/sharded_server.hpp>
#include <grove/offload.hpp>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

constexpr std::size_t wanted_connections = 10000;
constexpr std::size_t spare_descriptors = 64;

std::size_t connections_we_can_afford() {
  ::rlimit limit;
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  std::size_t affordable =
      limit.rlim_cur > spare_descriptors ? limit.rlim_cur - spare_descriptors : 0;
  std::size_t n = std::min(wanted_connections, affordable);
  if (n < wanted_connections) {
    MESSAGE("RLIMIT_NOFILE is " << limit.rlim_cur << ": testing " << n << " connections instead of "
                                << wanted_connections << " (raise it with `ulimit -n`)");
  }
  return n;
}

/// The child: n client fibers; each connects, gets its echo, then waits for the server to close.
int run_clients(std::uint16_t port, std::size_t n) {
  return grove::run([&] {
    std::size_t ok = 0;
    std::vector<grove::fiber<void>> clients;
    grove::spawn_options small;
    small.stack_size = 64 * 1024;
    for (std::size_t i = 0; i < n; ++i) {
      clients.push_back(grove::spawn(small, [&ok, port, i] {
        auto conn = net::tcp_stream::connect("127.0.0.1", port);
        conn.set_timeout(60s);
        std::string ping = "ping " + std::to_string(i) + "\n";
        conn.write_all(ping);
        if (conn.read_until("\n") != ping) return;
        if (!conn.read_until("\n").empty()) return;  // the server closes once all are connected
        ++ok;
      }));
      if (i % 256 == 255) grove::this_fiber::yield();  // pace the SYNs a little
    }
    for (auto& c : clients) {
      try {
        c.get();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "client: %s\n", e.what());
      }
    }
    if (ok != n) std::fprintf(stderr, "client: %zu of %zu connections completed\n", ok, n);
    return ok == n ? 0 : 1;
  });
}

/// Forks the client process: it reads the port from a pipe, then runs run_clients. Returns the
/// child's pid and the pipe's write end.
std::pair<pid_t, int> fork_clients(std::size_t n) {
  int port_pipe[2];
  REQUIRE(::pipe(port_pipe) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // no hub (nor other thread) exists in this process: the child builds its own
    ::close(port_pipe[1]);
    std::uint16_t port = 0;
    if (::read(port_pipe[0], &port, sizeof port) != sizeof port) ::_exit(2);
    ::_exit(run_clients(port, n));
  }
  ::close(port_pipe[0]);
  return {child, port_pipe[1]};
}

}  // namespace

TEST_CASE("10k concurrent connections are echoed by one hub (scaled to RLIMIT_NOFILE)") {
  std::size_t n = connections_we_can_afford();
  REQUIRE(n >= 100);
  auto [child, port_out] = fork_clients(n);

  grove::run([&] {
    std::size_t echoed = 0, peak = 0;
    grove::detail::wait_queue all_connected;
    net::server_options options;
    options.stack_size = 64 * 1024;
    net::server s(
        net::tcp_listener::bind("127.0.0.1", 0),
        [&](net::tcp_stream conn) {
          conn.write_all(conn.read_until("\n"));
          peak = std::max(peak, s.connection_count());
          if (++echoed == n) all_connected.notify_all();
          while (echoed < n) all_connected.wait();
        },
        options);
    s.start();
    std::uint16_t port = s.listener().local_endpoint().port();
    REQUIRE(::write(port_out, &port, sizeof port) == sizeof port);
    ::close(port_out);

    int status = grove::offload([child = child] {
      int st = 0;
      ::waitpid(child, &st, 0);
      return st;
    });
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(echoed == n);
    CHECK(peak == n);  // every connection was open at once
    s.stop();
  });
}

TEST_CASE("10k concurrent connections are spread over two hubs, and both serve some") {
  std::size_t n = connections_we_can_afford();
  REQUIRE(n >= 100);
  auto [child, port_out] = fork_clients(n);

  std::atomic<std::size_t> echoed{0}, open{0}, peak{0};
  std::array<std::atomic<std::size_t>, 2> served{};
  grove::event all_connected(grove::cross_thread);  // set on one core, waited on both
  net::server_options options;
  options.stack_size = 64 * 1024;
  net::sharded_server server(
      "127.0.0.1", 0,
      [&](net::tcp_stream conn) {
        std::size_t core = grove::this_core::index();
        conn.write_all(conn.read_until("\n"));
        ++served[core];
        std::size_t now = ++open;
        for (std::size_t p = peak; now > p && !peak.compare_exchange_weak(p, now);) {
        }
        if (++echoed == n) all_connected.set();  // wakes the waiters of both hubs
        all_connected.wait();
      },
      options);

  int status = -1;
  grove::run_on_cores(2, [&](std::size_t core) {
    if (core == 1) return server.serve();
    auto share = grove::spawn([&] { server.serve(); });
    // Both hubs accept before the clients connect, so their connections spread from the first.
    bool serving = server.wait_serving_for(2, 10s);
    REQUIRE(serving);
    std::uint16_t port = server.port();
    REQUIRE(::write(port_out, &port, sizeof port) == sizeof port);
    ::close(port_out);
    status = grove::offload([child = child] {
      int st = 0;
      ::waitpid(child, &st, 0);
      return st;
    });
    server.stop();
    share.join();
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(echoed == n);
  CHECK(peak == n);  // every connection was open at once
  MESSAGE("hub 0 served " << served[0].load() << ", hub 1 served " << served[1].load());
  CHECK(served[0] > 0);
  CHECK(served[1] > 0);
  CHECK(served[0] + served[1] == n);
}
