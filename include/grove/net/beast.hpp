// Boost.Beast over grove streams: what Beast needs beyond SyncReadStream / SyncWriteStream.
// Include it where websocket::stream<grove::net::tcp_stream> (or unix_stream) closes: Beast's
// websocket close calls teardown() on the next layer, which grove provides here.
//
// Example (a synchronous websocket client, in a fiber):
//   #include <boost/beast/websocket.hpp>
//   #include <grove/net/beast.hpp>
//   boost::beast::websocket::stream<grove::net::tcp_stream> ws(
//       grove::net::tcp_stream::connect("127.0.0.1", port));
//   ws.handshake("localhost", "/");
//   ws.write(boost::asio::buffer(std::string("hello")));
//   boost::beast::flat_buffer buffer;
//   ws.read(buffer);
//   ws.close(boost::beast::websocket::close_code::normal);
//
// HTTP needs nothing more: boost::beast::http::read / write work on a tcp_stream as they are.
#pragma once

#include <boost/beast/core/role.hpp>
#include <boost/system/error_code.hpp>
#include <grove/net/tcp.hpp>
#include <grove/net/unix.hpp>

namespace grove::detail {
/// Beast's teardown for sockets: the server shuts its sending side first, both drain the
/// peer's data to end of stream, the client shuts down last, then the socket closes.
inline void beast_teardown(boost::beast::role_type role, net::stream_socket& stream,
                           boost::system::error_code& ec) {
  if (role == boost::beast::role_type::server) {
    ::shutdown(stream.native_handle(), SHUT_WR);
  }
  for (;;) {
    char buf[2048];
    std::size_t n = stream.read_some(boost::asio::buffer(buf), ec);
    if (ec) {
      if (ec != boost::asio::error::eof) return;
      ec = {};
      break;
    }
    if (n == 0) break;
  }
  if (role == boost::beast::role_type::client) {
    ::shutdown(stream.native_handle(), SHUT_WR);
  }
  stream.close();
}
}  // namespace grove::detail

namespace grove::net {

/// Beast's websocket close handshake ends a tcp_stream with this (found by ADL).
inline void teardown(boost::beast::role_type role, tcp_stream& stream,
                     boost::system::error_code& ec) {
  detail::beast_teardown(role, stream, ec);
}

/// Beast's websocket close handshake ends a unix_stream with this (found by ADL).
inline void teardown(boost::beast::role_type role, unix_stream& stream,
                     boost::system::error_code& ec) {
  detail::beast_teardown(role, stream, ec);
}

}  // namespace grove::net
