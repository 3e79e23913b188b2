// Two styles on one hub: an HTTP server written as C++20 coroutines (asio::awaitable, co_await)
// and HTTP clients written as fibers that call Beast's async_* functions with grove::use_fiber,
// so each call reads like a blocking one. Both print what they did. The clients also show a
// grove::timeout reaching a Beast operation (the /slow request) through Asio's cancellation.
//   mixed_styles [--port P] [--clients N] [--tour]
// --port 0 (the default) picks a free port; the program serves its own clients, then exits.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <grove/grove.hpp>
#include <grove/use_fiber.hpp>
#include <string>
#include <vector>

#include "sample_args.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// ---- The server: coroutines, every wait a co_await ----------------------------------------

asio::awaitable<void> session(tcp::socket socket) {
  beast::flat_buffer buffer;
  try {
    for (;;) {
      http::request<http::string_body> request;
      co_await http::async_read(socket, buffer, request, asio::use_awaitable);
      std::string target(request.target());
      if (target == "/slow") {  // answers after 2 s: the client's timeout fires first
        asio::steady_timer timer(co_await asio::this_coro::executor, 2s);
        co_await timer.async_wait(asio::use_awaitable);
      }
      std::printf("[coroutine server] %s %s\n", std::string(request.method_string()).c_str(),
                  target.c_str());
      http::response<http::string_body> response(http::status::ok, request.version());
      response.set(http::field::content_type, "text/plain");
      response.body() = "hello from a coroutine, you asked for " + target;
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      co_await http::async_write(socket, response, asio::use_awaitable);
      if (!response.keep_alive()) break;
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != http::error::end_of_stream && e.code() != asio::error::connection_reset) {
      std::printf("[coroutine server] session ended: %s\n", e.code().message().c_str());
    }
  }
}

asio::awaitable<void> serve(tcp::acceptor& acceptor) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(executor, session(std::move(socket)), asio::detached);
  }
}

// ---- The clients: fibers, sequential code, Beast's async calls with grove::use_fiber ------

void client(int n, unsigned short port) {
  auto& io = grove::hub::current().io_context();
  tcp::resolver resolver(io);
  auto endpoints = resolver.async_resolve("127.0.0.1", std::to_string(port), grove::use_fiber);
  beast::tcp_stream stream(io);
  stream.async_connect(endpoints, grove::use_fiber);

  beast::flat_buffer buffer;
  auto get = [&](const std::string& target) {
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, "127.0.0.1");
    http::async_write(stream, request, grove::use_fiber);
    http::response<http::string_body> response;
    http::async_read(stream, buffer, response, grove::use_fiber);
    return response;
  };
  auto response = get("/fiber/" + std::to_string(n));
  std::printf("[fiber client %d] GET /fiber/%d -> %u \"%s\"\n", n, n, response.result_int(),
              response.body().c_str());

  if (n == 1) {
    // A scoped grove::timeout cancels the pending Beast read through its cancellation slot.
    try {
      grove::timeout scope(200ms);
      get("/slow");
      std::printf("[fiber client %d] GET /slow answered (unexpected)\n", n);
    } catch (const grove::timeout_error& e) {
      std::printf("[fiber client %d] GET /slow -> %s\n", n, e.what());
    }
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

const char* usage =
    "usage: mixed_styles [--port P] [--clients N] [--tour]\n"
    "  a coroutine HTTP server and fiber HTTP clients on one hub; serves its clients, exits\n"
    "  --port P     the server's port on 127.0.0.1 (default 0: any free port)\n"
    "  --clients N  fiber clients, each a few GETs and one that times out (default 3)\n"
    "  --tour       the same run (the default run is the tour)\n";

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0, clients = 3;
  bool tour = false;  // the default run is the tour
  if (int rc = sample::parse_options(
          argc, argv, usage, {{"--port", &port, 0, 65535}, {"--clients", &clients, 1, 1000}},
          {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  try {
    grove::run([&] {
      auto& io = grove::hub::current().io_context();
      tcp::acceptor acceptor(io);
      tcp::endpoint at(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
      try {
        acceptor.open(at.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(at);
        acceptor.listen();
      } catch (const boost::system::system_error& e) {
        throw grove::error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                           e.code().message());
      }
      unsigned short bound = acceptor.local_endpoint().port();
      std::printf("[coroutine server] listening on 127.0.0.1:%u\n", bound);
      asio::co_spawn(io, serve(acceptor), asio::detached);

      std::vector<grove::fiber<void>> fibers;
      for (int n = 1; n <= static_cast<int>(clients); ++n)
        fibers.push_back(grove::spawn(client, n, bound));
      for (auto& f : fibers) f.get();  // rethrows a client's failure
      acceptor.close();                // the server coroutine's accept ends
      std::printf("%lu fiber clients and the coroutine server shared one hub\n", clients);
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mixed_styles: %s\n", e.what());
    return 1;
  }
}
