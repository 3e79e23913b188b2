// The HTTP/1.1 server of samples/http_server.cpp, as a header the sample, the crawler sample and
// tests/net/http_server_test.cpp share (not part of grove's API).
//
// serve_http() runs one keep-alive connection: it parses requests with Beast's request_parser
// (header and body limits), hands each to a router and writes its response. Every read is
// bounded: a connection idle between requests is closed after `idle_timeout`, a request that
// has started must arrive whole within `request_timeout` (slowloris: a scoped grove::timeout
// around the read), a response must leave within `write_timeout`. Bad input never throws out of
// serve_http(): a malformed request gets 400, oversized headers 431, a body over the limit 413,
// a stalled request 408; each of those ends the connection.
//
// hello_app is the sample's router: `/` says hello, `/poll` is a long poll answered when a
// message is published (`/publish?msg=x`, or a timer), `/stats` says how many polls wait.
// get() is the matching little client.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <grove/detail/wait_queue.hpp>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <string>
#include <string_view>

namespace http_app {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using namespace std::chrono_literals;

/// Limits of one connection.
struct http_options {
  std::uint32_t header_limit = 8 * 1024;           ///< request line + headers, bytes (431)
  std::uint64_t body_limit = 64 * 1024;            ///< request body, bytes (413)
  std::chrono::nanoseconds request_timeout = 10s;  ///< first byte to last of a request (408)
  std::chrono::nanoseconds idle_timeout = 120s;    ///< keep-alive wait for the next request
  std::chrono::nanoseconds write_timeout = 10s;    ///< one response to leave
};

/// What the connections of one server did (hub thread only, like everything here).
struct http_stats {
  std::uint64_t requests = 0;           ///< parsed and routed
  std::uint64_t bad_requests = 0;       ///< 400
  std::uint64_t headers_too_large = 0;  ///< 431
  std::uint64_t bodies_too_large = 0;   ///< 413
  std::uint64_t stalled = 0;            ///< 408: cut mid-request
  std::uint64_t idle_closed = 0;        ///< closed after idle_timeout between requests
};

/// Turns a request into a response; may wait (a long poll does). Runs in the connection's fiber.
using router = std::function<response(const request&)>;

/// A response with a plain-text body.
inline response text_response(http::status status, std::string body, unsigned version = 11) {
  response res{status, version};
  res.set(http::field::server, "grove-http-sample");
  res.set(http::field::content_type, "text/plain");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

namespace detail {

/// Sends an error response and ends the connection (best effort: the client may be gone).
inline void refuse(grove::net::tcp_stream& conn, http::status status, const char* why,
                   const http_options& options) {
  auto res = text_response(status, std::string(why) + "\n");
  res.keep_alive(false);
  try {
    grove::timeout t(options.write_timeout);
    boost::system::error_code ec;
    http::write(conn, res, ec);
    if (ec) return;
    conn.shutdown(grove::net::shutdown_type::send);
    // Closing with unread input makes the kernel send a reset, which can destroy the response
    // before the client reads it: drain what the client still sends, briefly and boundedly.
    grove::timeout linger(500ms);
    char sink[4096];
    for (int i = 0; i < 256 && conn.read_some(boost::asio::buffer(sink)) > 0; ++i) {
    }
  } catch (const grove::timeout_error&) {
  } catch (const grove::net::net_error&) {
  }
}

}  // namespace detail

/// Serves keep-alive requests on `conn` until the client closes, asks to close, misbehaves or
/// idles too long. Never throws for the client's faults (kills still unwind it).
inline void serve_http(grove::net::tcp_stream conn, const http_options& options, http_stats& stats,
                       const router& route) {
  boost::beast::flat_buffer buffer;
  try {
    for (;;) {
      if (buffer.size() == 0) {  // between requests: wait for a first byte, up to idle_timeout
        grove::timeout idle(options.idle_timeout);
        try {
          std::size_t n = conn.read_some(buffer.prepare(1024));
          if (n == 0) return;  // the client closed
          buffer.commit(n);
        } catch (const grove::timeout_error& e) {
          if (!e.from(idle)) throw;
          ++stats.idle_closed;
          return;
        }
      }
      http::request_parser<http::string_body> parser;
      parser.header_limit(options.header_limit);
      parser.body_limit(options.body_limit);
      boost::system::error_code ec;
      {
        grove::timeout whole_request(options.request_timeout);
        try {
          http::read(conn, buffer, parser, ec);
        } catch (const grove::timeout_error& e) {
          if (!e.from(whole_request)) throw;
          ++stats.stalled;
          detail::refuse(conn, http::status::request_timeout, "request timeout", options);
          return;
        }
      }
      if (ec == http::error::header_limit) {
        ++stats.headers_too_large;
        detail::refuse(conn, http::status::request_header_fields_too_large,
                       "request header fields too large", options);
        return;
      }
      if (ec == http::error::body_limit) {
        ++stats.bodies_too_large;
        detail::refuse(conn, http::status::payload_too_large, "payload too large", options);
        return;
      }
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          (ec && ec.category() != http::make_error_code(http::error::header_limit).category())) {
        return;  // the client left (between requests or mid-request) or the socket failed
      }
      if (ec) {
        ++stats.bad_requests;
        detail::refuse(conn, http::status::bad_request, "bad request", options);
        return;
      }
      request req = parser.release();
      ++stats.requests;
      if (buffer.size() == 0) buffer.shrink_to_fit();  // a long poll holds no read buffer
      response res = route(req);
      res.keep_alive(req.keep_alive());
      {
        grove::timeout t(options.write_timeout);
        http::write(conn, res, ec);
      }
      if (ec || !res.keep_alive()) {
        if (!ec) conn.shutdown(grove::net::shutdown_type::send);
        return;
      }
    }
  } catch (const grove::timeout_error&) {
    // A write that did not leave in time: the client does not read. Drop it.
  } catch (const grove::net::net_error&) {
    // Reset by the peer and the like: nothing to answer.
  }
}

/// A GET of `target` on a keep-alive connection (the client side, for tours and tests);
/// `buffer` carries bytes read past the response over to the next call.
inline response get(grove::net::tcp_stream& conn, std::string_view target,
                    boost::beast::flat_buffer& buffer) {
  http::request<http::empty_body> req{http::verb::get,
                                      boost::beast::string_view(target.data(), target.size()), 11};
  req.set(http::field::host, "localhost");
  http::write(conn, req);
  response res;
  http::read(conn, buffer, res);
  return res;
}

/// Sends `bytes` as they are on a new connection to 127.0.0.1:`port` and returns everything the
/// server answers until it closes (or `limit` passes): how tours and tests send bad requests.
inline std::string raw_exchange(std::uint16_t port, std::string_view bytes,
                                std::chrono::nanoseconds limit = 5s) {
  grove::timeout t(limit);
  auto conn = grove::net::tcp_stream::connect("127.0.0.1", port);
  conn.write_all(bytes);
  std::string answer;
  char buf[4096];
  try {
    while (std::size_t n = conn.read_some(boost::asio::buffer(buf))) answer.append(buf, n);
  } catch (const grove::net::net_error&) {  // a reset after the answer
  }
  return answer;
}

/// The value of `name` in the target's query ("/publish?msg=hi" -> "hi"), undecoded; "" if absent.
inline std::string query_value(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return std::string(eq == pair.npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

/// Messages for long polls: publish() wakes every fiber waiting in wait_next().
class message_board {
 public:
  /// Publishes `message`; returns how many waiters it woke.
  std::size_t publish(std::string message) {
    latest_ = std::move(message);
    ++serial_;
    return waiters_.notify_all();
  }
  /// Waits up to `limit` for the next message; nullopt-like: false on timeout.
  bool wait_next(std::chrono::nanoseconds limit, std::string& message) {
    std::uint64_t seen = serial_;
    auto deadline = grove::detail::clock::now() + limit;
    ++waiting_;
    arrivals_.notify_all();
    struct leave {
      std::size_t& n;
      ~leave() { --n; }
    } guard{waiting_};
    while (serial_ == seen) {
      if (!waiters_.wait(deadline)) return false;
    }
    message = latest_;
    return true;
  }
  /// Waits until at least `n` fibers wait for a message (tours and tests start pollers, then
  /// publish once they all listen).
  void wait_for_waiters(std::size_t n) {
    while (waiting_ < n) arrivals_.wait();
  }
  /// Fibers waiting for a message now.
  std::size_t waiting() const noexcept { return waiting_; }
  /// Messages published so far.
  std::uint64_t published() const noexcept { return serial_; }

 private:
  grove::detail::wait_queue waiters_;
  grove::detail::wait_queue arrivals_;
  std::string latest_;
  std::uint64_t serial_ = 0;
  std::size_t waiting_ = 0;
};

/// The http_server sample's routes.
class hello_app {
 public:
  /// How long /poll waits before answering 204 No Content.
  std::chrono::nanoseconds poll_timeout = 30s;

  response route(const request& req) {
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/") return text_response(http::status::ok, "hello from grove\n", req.version());
    if (path == "/poll") {
      std::string message;
      if (!board_.wait_next(poll_timeout, message)) {
        return text_response(http::status::no_content, "", req.version());
      }
      return text_response(http::status::ok, message + "\n", req.version());
    }
    if (path == "/publish") {
      std::string message = query_value(target, "msg");
      if (req.method() == http::verb::post && !req.body().empty()) message = req.body();
      std::size_t woken = board_.publish(message);
      return text_response(http::status::ok,
                           "published to " + std::to_string(woken) + " waiting clients\n",
                           req.version());
    }
    if (path == "/stats") {
      return text_response(http::status::ok,
                           "waiting " + std::to_string(board_.waiting()) + "\npublished " +
                               std::to_string(board_.published()) + "\n",
                           req.version());
    }
    return text_response(http::status::not_found, "not found\n", req.version());
  }

  message_board& board() noexcept { return board_; }

 private:
  message_board board_;
};

/// hello_app served by a grove::net::server on 127.0.0.1:`port` (0: a free port), started at
/// construction.
class hello_server {
 public:
  hello_server(std::uint16_t port, const http_options& options, std::size_t max_connections = 0)
      : options_(options),
        server_(
            grove::net::tcp_listener::bind("127.0.0.1", port),
            [this](grove::net::tcp_stream conn) {
              serve_http(std::move(conn), options_, stats,
                         [this](const request& req) { return app.route(req); });
            },
            server_options(max_connections)) {
    server_.start();
  }
  /// The port it listens on.
  std::uint16_t port() { return server_.listener().local_endpoint().port(); }
  /// Connections open now.
  std::size_t connection_count() const noexcept { return server_.connection_count(); }
  /// Stops accepting, gives connections 1 s to finish, then kills the rest.
  void stop() { server_.stop(1s); }

  hello_app app;
  http_stats stats;

 private:
  static grove::net::server_options server_options(std::size_t max_connections) {
    grove::net::server_options o;
    o.max_connections = max_connections;
    o.stack_size = 64 * 1024;  // deep enough for Beast's parser; an idle poll touches ~2 pages
    return o;
  }
  http_options options_;
  grove::net::server server_;
};

}  // namespace http_app
