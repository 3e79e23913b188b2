// UDP for fibers: datagrams to and from any endpoint.
//
// Example (a round trip on loopback):
//   auto server = grove::net::udp_socket::bind("127.0.0.1", 0);
//   auto client = grove::net::udp_socket::open();
//   client.send_to("ping", server.local_endpoint());
//   char buf[1500];
//   auto got = server.receive_from(boost::asio::buffer(buf));    // waits for a datagram
//   server.send_to(boost::asio::buffer(buf, got.size), got.sender);
//
// A datagram larger than the buffer is cut short (received::truncated says so). Timeouts,
// kills and close() from another fiber behave as for every grove socket (socket.hpp).
#pragma once

#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <grove/net/socket.hpp>
#include <string_view>

namespace grove::net {

/// An IPv4 or IPv6 address and a port for datagrams (Asio's type).
using udp_endpoint = boost::asio::ip::udp::endpoint;

/// A UDP socket.
class udp_socket : public socket {
 public:
  /// What receive_from() got.
  struct received {
    std::size_t size = 0;    ///< bytes stored in the buffers
    udp_endpoint sender;     ///< where the datagram came from
    bool truncated = false;  ///< the datagram did not fit and was cut short
  };

  /// An empty (closed) socket.
  udp_socket() noexcept = default;
  /// A socket bound to `endpoint` (port 0 picks a free port: see local_endpoint()).
  static udp_socket bind(const udp_endpoint& endpoint);
  /// A socket bound to `host` (an address, or a name resolved to its first address) and `port`.
  static udp_socket bind(std::string_view host, std::uint16_t port);
  /// An unbound socket for `protocol` (the kernel picks a port on the first send).
  static udp_socket open(const boost::asio::ip::udp& protocol = boost::asio::ip::udp::v4());

  /// Sends one datagram made of `buffers` to `destination`; returns its size.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value std::size_t send_to(
      const ConstBufferSequence& buffers, const udp_endpoint& destination) {
    auto iov = detail::to_iovecs(buffers);
    return send_to(iov, destination);
  }
  /// Sends `data` as one datagram to `destination`.
  std::size_t send_to(std::string_view data, const udp_endpoint& destination) {
    return send_to(boost::asio::buffer(data), destination);
  }
  /// Waits for one datagram and stores it in `buffers`.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value received
  receive_from(const MutableBufferSequence& buffers) {
    auto iov = detail::to_iovecs(buffers);
    return receive_from(iov);
  }
  /// The bound address and port.
  udp_endpoint local_endpoint() const;

 private:
  explicit udp_socket(int fd) : socket(fd) {}
  std::size_t send_to(detail::iovec_array& iov, const udp_endpoint& destination);
  received receive_from(detail::iovec_array& iov);
};

}  // namespace grove::net
