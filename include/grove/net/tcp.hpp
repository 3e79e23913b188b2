// TCP for fibers: tcp_listener (bind, listen, accept) and tcp_stream (connect, then the reads and
// writes of stream_socket, see socket.hpp).
//
// Example (an echo server and a client, in one grove::run):
//   auto listener = grove::net::tcp_listener::bind("127.0.0.1", 0);   // 0: any free port
//   auto port = listener.local_endpoint().port();
//   grove::spawn([&] {
//     for (;;) {
//       grove::spawn([](grove::net::tcp_stream conn) {
//         char buf[4096];
//         while (std::size_t n = conn.read_some(boost::asio::buffer(buf))) {
//           conn.write_all(boost::asio::buffer(buf, n));
//         }
//       }, listener.accept());
//     }
//   });
//   auto conn = grove::net::tcp_stream::connect("localhost", port);   // resolved cooperatively
//   conn.write_all("ping\n");
//   auto line = conn.read_until("\n");                                 // "ping\n"
//
// For a server with a connection limit and graceful stop, see server.hpp.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <grove/net/socket.hpp>
#include <string_view>

namespace grove::net {

/// An IPv4 or IPv6 address and a port (Asio's type, so Asio code can use it directly).
using tcp_endpoint = boost::asio::ip::tcp::endpoint;

/// A connected TCP stream.
class tcp_stream : public stream_socket {
 public:
  /// An empty (closed) stream; assign a connected one to it.
  tcp_stream() noexcept = default;

  /// Connects to `host` (a name or an address) and `port`, trying each address the name
  /// resolves to in turn (the name is resolved on the offload pool). `limit` (if nonzero)
  /// bounds the whole call with net_error(timed_out); a scoped grove::timeout works as usual.
  static tcp_stream connect(std::string_view host, std::uint16_t port,
                            std::chrono::nanoseconds limit = {});
  /// Connects to `endpoint` within `limit` (zero: no limit).
  static tcp_stream connect(const tcp_endpoint& endpoint, std::chrono::nanoseconds limit = {});

  /// This end's address and port.
  tcp_endpoint local_endpoint() const;
  /// The peer's address and port.
  tcp_endpoint remote_endpoint() const;
  /// TCP_NODELAY: send small writes at once instead of coalescing them (Nagle).
  void set_no_delay(bool on = true);
  /// SO_KEEPALIVE: probe an idle connection so a dead peer is eventually noticed.
  void set_keep_alive(bool on = true);

 private:
  friend class tcp_listener;
  explicit tcp_stream(int fd) : stream_socket(fd) {}
};

/// A listening TCP socket.
class tcp_listener : public socket {
 public:
  /// An empty (closed) listener.
  tcp_listener() noexcept = default;

  /// Binds to `endpoint` and listens (port 0 picks a free port: see local_endpoint()).
  static tcp_listener bind(const tcp_endpoint& endpoint, const listen_options& options = {});
  /// Binds to `host` (an address, or a name resolved to its first address) and `port`.
  static tcp_listener bind(std::string_view host, std::uint16_t port,
                           const listen_options& options = {});

  /// Waits for the next connection. Throws net_error (EMFILE when out of descriptors: the
  /// connection stays queued in the kernel; back off and retry, as grove::net::server does).
  tcp_stream accept();
  /// The bound address and port.
  tcp_endpoint local_endpoint() const;

 private:
  explicit tcp_listener(int fd) : socket(fd) {}
};

}  // namespace grove::net
