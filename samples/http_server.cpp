// A small HTTP/1.1 server: one fiber per connection, plain blocking-style code, Beast's parser.
//   GET /                  hello
//   GET /poll              long poll: answers with the next published message (204 after 30 s)
//   GET /publish?msg=x     publishes x to every waiting /poll (POST: the body is the message)
//   GET /stats             how many polls wait, how many messages were published
// Keep-alive; malformed requests get 400, oversized headers 431, big bodies 413, and a client
// that stalls mid-request is cut after a timeout (408). Idle long polls cost ≈9 KB each, so
// one thread holds 10k of them (see bench/RESULTS.md).
//   http_server [--port N] [--publish-every S] [--max-connections N]   until Ctrl-C
//   http_server --tour      starts itself, sends itself a few requests from fibers, exits
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <string>
#include <vector>

#include "http_app.hpp"
#include "net_sample.hpp"

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

const char* usage =
    "usage: http_server [--port N] [--publish-every S] [--max-connections N] [--tour]\n"
    "  serves HTTP on 127.0.0.1 until SIGINT/SIGTERM: /, /poll, /publish?msg=x, /stats\n"
    "  --port N             listen on 127.0.0.1:N (default 8080; 0: any free port)\n"
    "  --publish-every S    publish 'tick <n>' to /poll every S seconds (default 0: never)\n"
    "  --max-connections N  connections served at once (default 20000; 0: no limit)\n"
    "  --tour               start, send itself a few requests from fibers, exit\n";

std::string first_line(const std::string& text) { return text.substr(0, text.find("\r\n")); }

void tour() {
  http_app::http_options options;
  options.request_timeout = 300ms;  // short, so the stalled client is cut quickly
  http_app::hello_server s(0, options, 1000);
  std::uint16_t port = s.port();
  std::printf("server on 127.0.0.1:%u\n", port);

  auto conn = net::tcp_stream::connect("127.0.0.1", port);
  boost::beast::flat_buffer buffer;
  for (const char* target : {"/", "/", "/nowhere"}) {
    auto res = http_app::get(conn, target, buffer);
    std::printf("keep-alive GET %-9s -> %u %s", target, res.result_int(),
                res.body().empty() ? "\n" : res.body().c_str());
  }

  std::printf("three long polls wait for a message...\n");
  std::vector<grove::fiber<void>> pollers;
  for (int i = 1; i <= 3; ++i) {
    pollers.push_back(grove::spawn([port, i] {
      auto c = net::tcp_stream::connect("127.0.0.1", port);
      boost::beast::flat_buffer b;
      auto res = http_app::get(c, "/poll", b);
      std::printf("  poller %d woke: %u %s", i, res.result_int(), res.body().c_str());
    }));
  }
  {
    grove::timeout t(2s);
    s.app.board().wait_for_waiters(3);
  }
  auto res = http_app::get(conn, "/publish?msg=hello-pollers", buffer);
  std::printf("GET /publish?msg=hello-pollers -> %s", res.body().c_str());
  for (auto& p : pollers) p.get();

  std::printf("bad clients:\n");
  std::printf("  malformed request line   -> %s\n",
              first_line(http_app::raw_exchange(port, "HELLO THERE\r\n\r\n")).c_str());
  std::string big_header =
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16000, 'a') + "\r\n\r\n";
  std::printf("  16 KB header             -> %s\n",
              first_line(http_app::raw_exchange(port, big_header)).c_str());
  std::string big_body = "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n";
  std::printf("  10 MB body announced     -> %s\n",
              first_line(http_app::raw_exchange(port, big_body)).c_str());
  auto start = std::chrono::steady_clock::now();
  std::string stalled = http_app::raw_exchange(port, "GET / HTTP/1.1\r\nHost: loc");
  std::printf(
      "  stalls mid-request       -> %s after %.0f ms\n", first_line(stalled).c_str(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());

  std::printf(
      "stats: %llu requests, %llu bad (400), %llu headers too large (431), "
      "%llu bodies too large (413), %llu stalled (408)\n",
      static_cast<unsigned long long>(s.stats.requests),
      static_cast<unsigned long long>(s.stats.bad_requests),
      static_cast<unsigned long long>(s.stats.headers_too_large),
      static_cast<unsigned long long>(s.stats.bodies_too_large),
      static_cast<unsigned long long>(s.stats.stalled));
  conn.close();
  s.stop();
}

void serve(std::uint16_t port, double publish_every, std::size_t max_connections) {
  http_app::hello_server s(port, {}, max_connections);

  grove::fiber<void> ticker;
  if (publish_every > 0) {
    ticker = grove::spawn([&s, publish_every] {
      for (std::uint64_t tick = 1;; ++tick) {
        grove::this_fiber::sleep_for(std::chrono::duration<double>(publish_every));
        s.app.board().publish("tick " + std::to_string(tick));
      }
    });
  }
  sample::serve_until_signal("http_server", s.port(), [&] {
    if (ticker.valid()) ticker.kill();
    s.stop();
    return std::to_string(s.stats.requests) + " requests served";
  });
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 8080, max_connections = 20000;
  double publish_every = 0;
  bool tour_only = false;
  if (int rc = sample::parse_options(argc, argv, usage,
                                     {{"--port", &port, 0, 65535},
                                      {"--publish-every", &publish_every, 0, 86400},
                                      {"--max-connections", &max_connections, 0, 1ul << 30}},
                                     {{"--tour", &tour_only}});
      rc >= 0) {
    return rc;
  }
  return sample::run_sample(argv, tour_only, tour, [&] {
    serve(static_cast<std::uint16_t>(port), publish_every,
          static_cast<std::size_t>(max_connections));
  });
}
