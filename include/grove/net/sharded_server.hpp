// A TCP server on every core: each hub that calls serve() accepts on a listener of its own,
// bound with SO_REUSEPORT to the same address, and the kernel spreads incoming connections over
// them (by a hash of the connection's addresses). A connection stays on the hub that accepted it
// for its whole life: its handler is an ordinary fiber there.
//
// Example (with grove::run_on_cores, see cores.hpp):
//   grove::net::sharded_server echo("127.0.0.1", 0, [](grove::net::tcp_stream conn) {
//     char buf[4096];
//     while (std::size_t n = conn.read_some(boost::asio::buffer(buf)))
//       conn.write_all(boost::asio::buffer(buf, n));
//   });
//   std::printf("port %u\n", echo.port());           // known before any core starts
//   std::thread ready([&] {
//     if (echo.wait_serving(2)) std::puts("both cores accept");  // no polling of shares()
//   });
//   grove::run_on_cores(2, [&](std::size_t) {
//     echo.serve();                                   // this hub's share, until echo.stop()
//   });
//
// The constructor reserves the address (a bound SO_REUSEPORT socket that never listens, so it
// takes no connections), which resolves port 0 once for every core and reports a busy port
// before any core starts. stop() may be called from any thread or fiber: every hub's share stops
// as grove::net::server::stop does (stop accepting, let handlers finish for the grace period,
// kill the rest), each on its own hub, and each serve() returns when its share has stopped;
// wait_stopped() waits for all of them, from any fiber or thread; wait_serving(n) waits until n
// hubs accept (a connection made before a hub listens goes to the hubs already listening).
// stop() is final: a serve() called
// afterwards returns at once. A serve() whose fiber is killed stops its own share gracefully (the
// options' stop_grace), like grove::net::serve.
//
// The constructor first binds the address without SO_REUSEPORT, so a port that anyone else
// holds (a second copy of the same program included) is reported busy rather than shared; a
// process of the same user binding it with SO_REUSEPORT afterwards would still join the spread,
// as SO_REUSEPORT allows. Single-hub servers: grove::net::server (server.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <grove/detail/deadline.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <memory>
#include <string_view>

namespace grove::detail {
struct sharded_state;
}

namespace grove::net {

/// A TCP server whose connections are spread by the kernel over every hub that serves it.
/// Thread-safe; not copyable or movable.
class sharded_server {
 public:
  /// Called in a new fiber, on the hub that accepted the connection.
  using handler_type = std::function<void(tcp_stream)>;

  /// Reserves `endpoint` (port 0: a free port) for the hubs' listeners. May be called outside
  /// any hub. Throws net_error if the address cannot be bound (a busy port, say).
  sharded_server(const tcp_endpoint& endpoint, handler_type handler, server_options options = {},
                 listen_options listen = {});
  /// As above, with a numeric IPv4 or IPv6 `address` (names would need a hub to resolve).
  sharded_server(std::string_view address, std::uint16_t port, handler_type handler,
                 server_options options = {}, listen_options listen = {});
  sharded_server(const sharded_server&) = delete;
  sharded_server& operator=(const sharded_server&) = delete;
  /// Releases the address. Every serve() should have returned (a share still serving keeps
  /// working: its state is shared, not owned).
  ~sharded_server();

  /// The address every share listens on (the port resolved if 0 was asked).
  tcp_endpoint local_endpoint() const;
  /// The port every share listens on.
  std::uint16_t port() const;

  /// Serves this hub's share: binds a listener, accepts until stop(), then stops gracefully and
  /// returns. Call it from a fiber of each hub that should take connections.
  void serve();
  /// Asks every share to stop, with the options' stop_grace; returns at once. Any thread.
  void stop();
  /// As stop(), letting handlers finish for `grace` before they are killed.
  void stop(std::chrono::nanoseconds grace);
  /// Waits until stop() has been called and every share has stopped; from a fiber of any hub
  /// (the fiber waits) or a plain thread (the thread blocks).
  void wait_stopped();
  /// Waits until at least `n` hubs accept connections (their serve() has started its accept
  /// loop); from a fiber of any hub or a plain thread. True then; false if stop() was called
  /// first (they never will). Honours kill and grove::timeout in a fiber.
  bool wait_serving(std::size_t n) {
    return wait_serving_until(n, std::chrono::steady_clock::time_point::max());
  }
  /// As wait_serving(n), giving up after `d`: false if fewer than `n` hubs accept by then.
  template <class Rep, class Period>
  bool wait_serving_for(std::size_t n, std::chrono::duration<Rep, Period> d) {
    return wait_serving_until(n, detail::deadline_after(d));
  }
  /// As wait_serving(n), giving up at `t`.
  bool wait_serving_until(std::size_t n, std::chrono::steady_clock::time_point t);
  /// True once stop() has been called.
  bool stop_requested() const;
  /// How many hubs are serving now.
  std::size_t shares() const;

 private:
  std::shared_ptr<detail::sharded_state> state_;
};

}  // namespace grove::net
