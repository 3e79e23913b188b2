// Promises of <grove/net/beast.hpp>: Beast's synchronous HTTP and websocket code runs unchanged
// on grove streams inside fibers.
#include <doctest/doctest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <grove/grove.hpp>
#include <grove/net/beast.hpp>  // first: the header is self-contained
#include <grove/net/tcp.hpp>
#include <string>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = grove::net;

TEST_CASE("Beast http::read and http::write over tcp_stream, several requests on one connection") {
  grove::run([] {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto server = grove::spawn([&] {
      net::tcp_stream conn = listener.accept();
      beast::flat_buffer buffer;
      for (;;) {
        http::request<http::string_body> req;
        beast::error_code ec;
        http::read(conn, buffer, req, ec);
        if (ec == http::error::end_of_stream) break;
        REQUIRE_FALSE(ec);
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "text/plain");
        res.body() = "you asked for " + std::string(req.target());
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(conn, res);
      }
      conn.shutdown(net::shutdown_type::send);
    });
    auto conn = net::tcp_stream::connect("127.0.0.1", listener.local_endpoint().port());
    beast::flat_buffer buffer;
    for (const char* target : {"/a", "/b/c"}) {
      http::request<http::empty_body> req{http::verb::get, target, 11};
      req.set(http::field::host, "localhost");
      http::write(conn, req);
      http::response<http::string_body> res;
      http::read(conn, buffer, res);
      CHECK(res.result() == http::status::ok);
      CHECK(res.body() == std::string("you asked for ") + target);
    }
    conn.shutdown(net::shutdown_type::send);
    server.get();
  });
}

TEST_CASE("websocket::stream<tcp_stream>: handshake, echo and close in fibers") {
  grove::run([] {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto server = grove::spawn([&] {
      websocket::stream<net::tcp_stream> ws(listener.accept());
      ws.accept();
      for (;;) {
        beast::flat_buffer buffer;
        beast::error_code ec;
        ws.read(buffer, ec);
        if (ec == websocket::error::closed) break;
        REQUIRE_FALSE(ec);
        ws.text(ws.got_text());
        ws.write(buffer.data());
      }
    });
    websocket::stream<net::tcp_stream> ws(
        net::tcp_stream::connect("127.0.0.1", listener.local_endpoint().port()));
    ws.handshake("localhost", "/");
    for (const std::string& message : {std::string("hello"), std::string(100000, 'w')}) {
      ws.write(boost::asio::buffer(message));
      beast::flat_buffer buffer;
      ws.read(buffer);
      CHECK(beast::buffers_to_string(buffer.data()) == message);
    }
    ws.close(websocket::close_code::normal);
    server.get();
    CHECK_FALSE(ws.next_layer().is_open());
  });
}
