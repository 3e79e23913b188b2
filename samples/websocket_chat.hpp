// The chat of chat_room.hpp over WebSocket (samples/websocket_chat.cpp and its test; not part of
// grove's API): Beast's synchronous websocket::stream<grove::net::tcp_stream> in fibers. Each
// text message a client sends goes to every client as "[id] text". A plain GET (a browser) gets
// a small HTML page that opens the websocket. The server: chat_server(port, options,
// serve_websocket_client).
#pragma once

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <grove/grove.hpp>
#include <grove/net/beast.hpp>
#include <grove/net/server.hpp>
#include <string>

#include "chat_room.hpp"

namespace chat {

namespace websocket = boost::beast::websocket;

/// What a browser gets at any path without an Upgrade header.
inline constexpr const char* chat_page = R"(<!doctype html>
<title>grove websocket chat</title>
<pre id="log"></pre>
<input id="line" autofocus placeholder="say something, press Enter">
<script>
const ws = new WebSocket("ws://" + location.host + "/");
ws.onmessage = e => { log.textContent += e.data + "\n"; };
line.onkeydown = e => { if (e.key === "Enter") { ws.send(line.value); line.value = ""; } };
</script>
)";

/// Serves one WebSocket client of `r` (or the HTML page to a plain HTTP request). The handshake
/// must arrive within 10 s.
inline void serve_websocket_client(grove::net::tcp_stream conn, room& r) {
  namespace http = boost::beast::http;
  if (r.options().send_buffer > 0) conn.set_option(SOL_SOCKET, SO_SNDBUF, r.options().send_buffer);
  websocket::stream<grove::net::tcp_stream> ws(std::move(conn));
  try {
    grove::timeout handshake(10s);
    boost::beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(0);
    http::read(ws.next_layer(), buffer, parser);
    if (!websocket::is_upgrade(parser.get())) {
      http::response<http::string_body> page{http::status::ok, parser.get().version()};
      page.set(http::field::content_type, "text/html; charset=utf-8");
      page.body() = chat_page;
      page.keep_alive(false);
      page.prepare_payload();
      http::write(ws.next_layer(), page);
      ws.next_layer().shutdown(grove::net::shutdown_type::send);
      return;
    }
    ws.read_message_max(r.options().line_limit);
    ws.accept(parser.release());
  } catch (const grove::timeout_error&) {
    return;
  } catch (const boost::system::system_error&) {  // a bad request or handshake
    return;
  } catch (const grove::net::net_error&) {
    return;
  }
  ws.text(true);
  // Beast's sync stream answers pings and close frames from inside read(); those writes may
  // meet a write of the writer fiber only when the client's socket is full, and such a client
  // is about to be dropped anyway.
  run_member(
      r,
      [&ws] {
        try {
          ws.next_layer().shutdown(grove::net::shutdown_type::both);
        } catch (const grove::net::net_error&) {
        }
      },
      [&ws](const std::string& text) {
        std::string_view message(text);
        if (message.ends_with('\n')) message.remove_suffix(1);
        ws.write(boost::asio::buffer(message));
      },
      [&ws](auto deliver) {
        for (;;) {
          boost::beast::flat_buffer buffer;
          ws.read(buffer);  // throws websocket::error::closed when the client closes
          deliver(boost::beast::buffers_to_string(buffer.data()) + "\n");
        }
      });
}

/// The client side (tours and tests): a Beast websocket client connected to the chat.
using websocket_client = websocket::stream<grove::net::tcp_stream>;

/// Connects a text-mode websocket client to the chat on 127.0.0.1:`port`.
inline websocket_client connect_client(std::uint16_t port) {
  websocket_client ws(grove::net::tcp_stream::connect("127.0.0.1", port));
  ws.handshake("localhost", "/");
  ws.text(true);
  return ws;
}

}  // namespace chat
