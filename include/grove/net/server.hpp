// A stream server (gevent's StreamServer): accepts connections on a listener and runs a handler
// for each in a fiber of its own.
//
// Example:
//   grove::net::server_options options;
//   options.max_connections = 1000;               // the rest wait in the kernel's backlog
//   grove::net::server echo(grove::net::tcp_listener::bind("127.0.0.1", 7000),
//                           [](grove::net::tcp_stream conn) {
//                             char buf[4096];
//                             while (std::size_t n = conn.read_some(boost::asio::buffer(buf)))
//                               conn.write_all(boost::asio::buffer(buf, n));
//                           }, options);
//   echo.start();                                 // accepts in a fiber of its own
//   ...
//   echo.stop(5s);   // stop accepting, let handlers finish for 5 s, then kill the rest
//
// serve_forever() is start() plus waiting until another fiber calls stop(); the free function
// serve() runs a server until the calling fiber is killed. A handler's exception ends only its
// connection (it is reported on stderr like any unjoined fiber's).
//
// Accept errors never end the server: running out of descriptors (EMFILE, ENFILE) or memory
// backs off (10 ms, doubling up to 1 s, reported on stderr) while the pending connections wait
// in the backlog; network errors of a connection that died before it was accepted are skipped.
//
// The server object must outlive its fibers: destroy it in a fiber of its hub (the destructor
// stops it at once, killing handlers that still run).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <grove/detail/wait_queue.hpp>
#include <grove/fiber.hpp>
#include <grove/net/tcp.hpp>
#include <grove/net/unix.hpp>
#include <unordered_map>
#include <utility>

namespace grove::net {

/// Options for a server.
struct server_options {
  /// Connections handled at once; 0 means no limit. At the limit the server stops accepting:
  /// new connections wait in the listener's backlog, none is dropped.
  std::size_t max_connections = 0;
  /// How long stop() without an argument lets handlers finish before it kills them.
  std::chrono::nanoseconds stop_grace = std::chrono::seconds(1);
  /// Stack size of each connection's fiber.
  std::size_t stack_size = default_stack_size;
  /// Report accept errors and back-off on stderr.
  bool log_errors = true;
};

}  // namespace grove::net

namespace grove::detail {

/// What every server does whatever its listener: connection fibers, the limit, stopping, and the
/// back-off on accept errors. Hub thread only.
class server_core {
 public:
  explicit server_core(const net::server_options& options) : options_(options) {}
  server_core(const server_core&) = delete;
  server_core& operator=(const server_core&) = delete;

  /// Records the acceptor fiber; the server runs from now on.
  void start(fiber<void> acceptor);
  /// True between start() and the end of stop().
  bool running() const noexcept { return acceptor_.valid() && !stopped_; }
  /// Suspends the acceptor while the server is at its connection limit.
  void wait_for_slot();
  /// Decides what an accept error means: true to accept again (after a back-off sleep for
  /// resource exhaustion), false when the listener is closed (the acceptor ends).
  bool handle_accept_error(const net::net_error& e);
  /// A connection was accepted: the back-off starts over.
  void accepted() noexcept { backoff_ = std::chrono::milliseconds(0); }
  /// Options for a connection fiber.
  const spawn_options& connection_options() const noexcept { return connection_spawn_; }
  /// Registers a connection fiber (spawned, not started yet).
  void add(fiber<void> connection);
  /// Stops accepting (kills the acceptor, then calls `close_listener`), waits up to `grace` for
  /// the handlers, kills those still running and waits for them. Never interrupted by the
  /// caller's own kill or timeout (so a destructor may call it); never throws.
  void stop(std::chrono::nanoseconds grace, const std::function<void()>& close_listener) noexcept;
  /// Waits until stop() has finished.
  void wait_stopped();
  /// Connections being handled now.
  std::size_t connection_count() const noexcept { return connections_.size(); }
  const net::server_options& options() const noexcept { return options_; }

  /// Lives on a connection fiber's stack: deregisters it when the handler ends, however.
  class connection_scope {
   public:
    explicit connection_scope(server_core& core) noexcept : core_(core) {}
    ~connection_scope() { core_.remove(this_fiber::id()); }
    connection_scope(const connection_scope&) = delete;
    connection_scope& operator=(const connection_scope&) = delete;

   private:
    server_core& core_;
  };

 private:
  void remove(std::uint64_t id) noexcept;

  net::server_options options_;
  spawn_options connection_spawn_{"connection", options_.stack_size};
  fiber<void> acceptor_;
  std::unordered_map<std::uint64_t, fiber<void>> connections_;
  /// The acceptor waits here at the limit.
  wait_queue slot_free_{wait_kind::server};
  /// stop() waits here during the grace period.
  wait_queue handler_ended_{wait_kind::server};
  /// serve_forever() and concurrent stop() calls wait here.
  wait_queue stopped_queue_{wait_kind::server};
  std::chrono::milliseconds backoff_{0};
  bool stopping_ = false;
  bool stopped_ = false;
};

}  // namespace grove::detail

namespace grove::net {

/// A server accepting on a `Listener` (tcp_listener or unix_listener). Not movable: its fibers
/// refer to it.
template <class Listener>
class basic_server {
 public:
  /// What accept() returns: tcp_stream or unix_stream.
  using stream_type = decltype(std::declval<Listener&>().accept());
  /// Called in a new fiber for each connection.
  using handler_type = std::function<void(stream_type)>;

  /// A server that will accept on `listener` (it owns it from now on) once started.
  basic_server(Listener listener, handler_type handler, server_options options = {})
      : listener_(std::move(listener)), handler_(std::move(handler)), core_(options) {}
  basic_server(const basic_server&) = delete;
  basic_server& operator=(const basic_server&) = delete;
  /// Stops the server at once (handlers still running are killed).
  ~basic_server() {
    if (core_.running()) core_.stop(std::chrono::nanoseconds(0), [this] { listener_.close(); });
  }

  /// Starts accepting in a fiber of its own; returns at once. No-op if already running.
  void start() {
    if (core_.running()) return;
    spawn_options acceptor_options;
    acceptor_options.name = "server-accept";
    core_.start(grove::spawn(acceptor_options, [this] { accept_loop(); }));
  }
  /// start(), then waits until another fiber calls stop().
  void serve_forever() {
    start();
    core_.wait_stopped();
  }
  /// Stops accepting and closes the listener, lets handlers finish for the options' stop_grace,
  /// then kills the rest; returns when every handler has ended. A handler may call it (it is
  /// then left to finish by itself). Not interrupted by the caller's kill or timeout.
  void stop() { stop(core_.options().stop_grace); }
  /// As stop(), with a grace period of `grace`.
  void stop(std::chrono::nanoseconds grace) {
    if (core_.running()) core_.stop(grace, [this] { listener_.close(); });
  }

  /// The listener (for example to read the port it was bound to).
  Listener& listener() noexcept { return listener_; }
  /// Connections being handled now.
  std::size_t connection_count() const noexcept { return core_.connection_count(); }

 private:
  void accept_loop() {
    for (;;) {
      core_.wait_for_slot();
      stream_type conn;
      try {
        conn = listener_.accept();
      } catch (const net_error& e) {
        if (core_.handle_accept_error(e)) continue;
        return;
      }
      core_.accepted();
      core_.add(grove::spawn(
          core_.connection_options(),
          [this](stream_type c) {
            detail::server_core::connection_scope scope(core_);
            handler_(std::move(c));
          },
          std::move(conn)));
    }
  }

  Listener listener_;
  handler_type handler_;
  detail::server_core core_;
};

/// A TCP server.
using server = basic_server<tcp_listener>;
/// A Unix-domain stream server.
using unix_server = basic_server<unix_listener>;

/// Runs a server on `listener` until the calling fiber is killed (or times out), then stops it
/// gracefully: handlers get the options' stop_grace.
template <class Listener>
void serve(Listener listener, typename basic_server<Listener>::handler_type handler,
           server_options options = {}) {
  basic_server<Listener> s(std::move(listener), std::move(handler), options);
  struct stop_on_exit {
    basic_server<Listener>& s;
    ~stop_on_exit() { s.stop(); }
  } guard{s};
  s.serve_forever();
}

}  // namespace grove::net
