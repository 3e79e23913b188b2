// Promises of samples/http_app.hpp, the http_server sample's server: keep-alive, long polls woken
// by a publish (1k at once), and bad clients (malformed, oversized, stalling, idle) answered and
// cut without harming the server.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <grove/grove.hpp>
#include <string>
#include <vector>

#include "../../samples/http_app.hpp"  // first: the header is self-contained

using namespace std::chrono_literals;
namespace net = grove::net;
namespace http = boost::beast::http;

namespace {

/// Options with short timeouts, so the timeout cases run quickly.
http_app::http_options quick_options() {
  http_app::http_options options;
  options.request_timeout = 200ms;
  options.idle_timeout = 300ms;
  options.write_timeout = 1s;
  return options;
}

std::string status_line(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }

/// Raises RLIMIT_NOFILE to its hard limit; returns how many descriptors we may use.
std::size_t descriptor_limit() {
  ::rlimit limit;
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

}  // namespace

TEST_CASE("bad requests get 400, 431, 413 or 408, and the server keeps serving") {
  struct bad_request {
    const char* name;
    std::string bytes;
    const char* expected;
  };
  const std::vector<bad_request> table = {
      {"malformed request line", "HELLO THERE\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"unknown HTTP version", "GET / HTTP/7.5\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"header without a colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"bad Content-Length", "POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n",
       "HTTP/1.1 400 Bad Request"},
      {"16 KB header", "GET / HTTP/1.1\r\nX-Big: " + std::string(16000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large"},
      {"10 MB body announced", "POST /publish HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n",
       "HTTP/1.1 413 Payload Too Large"},
      {"100 KB body sent",
       "POST /publish HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'b'),
       "HTTP/1.1 413 Payload Too Large"},
      {"stall in the header", "GET / HTTP/1.1\r\nHost: loc", "HTTP/1.1 408 Request Timeout"},
      {"stall in the body", "POST /publish HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
       "HTTP/1.1 408 Request Timeout"},
  };
  grove::run([&] {
    http_app::hello_server s(0, quick_options());
    for (const auto& bad : table) {
      CAPTURE(bad.name);
      auto start = std::chrono::steady_clock::now();
      std::string answer = http_app::raw_exchange(s.port(), bad.bytes, 2s);
      CHECK(status_line(answer) == bad.expected);
      CHECK(std::chrono::steady_clock::now() - start < 1s);  // cut at request_timeout, 200 ms
    }
    CHECK(s.stats.bad_requests == 4);
    CHECK(s.stats.headers_too_large == 1);
    CHECK(s.stats.bodies_too_large == 2);
    CHECK(s.stats.stalled == 2);
    CHECK(s.stats.requests == 0);
    auto conn = net::tcp_stream::connect("127.0.0.1", s.port());
    boost::beast::flat_buffer buffer;
    http_app::response res = http_app::get(conn, "/", buffer);
    CHECK(res.body() == "hello from grove\n");
    conn.close();
    s.stop();
    CHECK(s.connection_count() == 0);
  });
}

TEST_CASE("several requests share one keep-alive connection, pipelined ones too") {
  grove::run([] {
    http_app::hello_server s(0, quick_options());
    auto conn = net::tcp_stream::connect("127.0.0.1", s.port());
    boost::beast::flat_buffer buffer;
    for (int i = 0; i < 5; ++i) {
      auto res = http_app::get(conn, i % 2 ? "/" : "/missing", buffer);
      CHECK(res.result() == (i % 2 ? http::status::ok : http::status::not_found));
      CHECK(res.keep_alive());
    }
    conn.write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    http_app::response first, second;
    http::read(conn, buffer, first);
    http::read(conn, buffer, second);
    CHECK(first.result() == http::status::ok);
    CHECK(second.result() == http::status::not_found);
    CHECK(s.stats.requests == 7);
    CHECK(s.connection_count() == 1);  // all on one connection

    conn.write_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    http_app::response last;
    http::read(conn, buffer, last);
    CHECK_FALSE(last.keep_alive());
    char byte;
    std::size_t n = conn.read_some(boost::asio::buffer(&byte, 1));
    CHECK(n == 0);  // the server closed
    s.stop();
  });
}

TEST_CASE("a connection idle between requests is closed after the idle timeout") {
  grove::run([] {
    http_app::hello_server s(0, quick_options());
    auto conn = net::tcp_stream::connect("127.0.0.1", s.port());
    boost::beast::flat_buffer buffer;
    http_app::response res = http_app::get(conn, "/", buffer);
    CHECK(res.result() == http::status::ok);
    auto start = std::chrono::steady_clock::now();
    conn.set_timeout(2s);
    char byte;
    std::size_t n = conn.read_some(boost::asio::buffer(&byte, 1));
    CHECK(n == 0);
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
    CHECK(s.stats.idle_closed == 1);
    s.stop();
  });
}

TEST_CASE("a long poll answers when a message is published, and 204 when none comes in time") {
  grove::run([] {
    http_app::hello_server s(0, quick_options());
    s.app.poll_timeout = 100ms;
    auto poller = grove::spawn([&] {
      auto conn = net::tcp_stream::connect("127.0.0.1", s.port());
      boost::beast::flat_buffer buffer;
      auto first = http_app::get(conn, "/poll", buffer);
      auto second = http_app::get(conn, "/poll", buffer);  // nobody publishes: 204
      return std::make_pair(first, second);
    });
    {
      grove::timeout t(2s);
      s.app.board().wait_for_waiters(1);
    }
    auto conn = net::tcp_stream::connect("127.0.0.1", s.port());
    boost::beast::flat_buffer buffer;
    auto published = http_app::get(conn, "/publish?msg=news", buffer);
    CHECK(published.body() == "published to 1 waiting clients\n");
    auto [first, second] = poller.get();
    CHECK(first.result() == http::status::ok);
    CHECK(first.body() == "news\n");
    CHECK(second.result() == http::status::no_content);
    s.stop();
  });
}

TEST_CASE("1k concurrent idle long-poll clients all wake on one publish") {
  std::size_t wanted = 1000;
  std::size_t n = std::min(wanted, (descriptor_limit() - 64) / 2);  // a client and a server end
  if (n < wanted) MESSAGE("RLIMIT_NOFILE allows only " << n << " clients (raise ulimit -n)");
  REQUIRE(n >= 100);
  grove::run([n] {
    http_app::hello_server s(0, quick_options());
    s.app.poll_timeout = 30s;
    std::size_t woken = 0;
    std::vector<grove::fiber<void>> clients;
    grove::spawn_options small;
    small.stack_size = 64 * 1024;
    for (std::size_t i = 0; i < n; ++i) {
      clients.push_back(grove::spawn(small, [&] {
        auto conn = net::tcp_stream::connect("127.0.0.1", s.port());
        boost::beast::flat_buffer buffer;
        auto res = http_app::get(conn, "/poll", buffer);
        if (res.result() == http::status::ok && res.body() == "wake-up\n") ++woken;
      }));
    }
    grove::timeout t(20s);
    s.app.board().wait_for_waiters(n);
    CHECK(s.connection_count() == n);
    auto conn = net::tcp_stream::connect("127.0.0.1", s.port());
    boost::beast::flat_buffer buffer;
    auto res = http_app::get(conn, "/publish?msg=wake-up", buffer);
    CHECK(res.body() == "published to " + std::to_string(n) + " waiting clients\n");
    for (auto& c : clients) c.join();
    CHECK(woken == n);
    conn.close();
    s.stop();
  });
}
