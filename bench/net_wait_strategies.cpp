// How should a fiber wait on a socket? The same fiber-per-connection echo server on grove's hub,
// three ways, measured by bench/run_net_bench.sh with the same load generator as every server:
//   asio_wait        Asio socket in non-blocking mode: recv first; on EAGAIN, async_wait(read)
//                    then recv again (Asio re-arms the descriptor with epoll_ctl on every wait)
//   asio_read_some   async_read_some / async_write_some (Asio tries the call speculatively,
//                    queues it in the reactor on EAGAIN, and runs it when epoll reports ready)
//   use_fiber        async_read_some / async_write with the grove::use_fiber token (the public
//                    face of asio_read_some: the same Asio operations, errors in [ec])
//   grove            grove::net::tcp_stream (what grove ships)
// The Asio variants wait through detail::await_asio (cancel-then-wait on kill / timeout).
//   net_wait_strategies STRATEGY PORT
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/detail/completion.hpp>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/use_fiber.hpp>
#include <string>

#include "bench_util.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

template <class Initiate>
auto await(tcp::socket& s, Initiate&& initiate) {
  return grove::detail::await_asio<error_code, std::size_t>(std::forward<Initiate>(initiate),
                                                            [&] { s.cancel(); });
}

void echo_asio_wait(tcp::socket s) {
  s.non_blocking(true);
  char buf[16384];
  for (;;) {
    error_code ec;
    std::size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      auto [wait_ec] = grove::detail::await_asio<error_code>(
          [&](auto handler) { s.async_wait(tcp::socket::wait_read, std::move(handler)); },
          [&] { s.cancel(); });
      if (wait_ec) return;
      continue;
    }
    if (ec) return;
    asio::write(s, asio::buffer(buf, n), ec);  // small replies: the first write sends all
    if (ec) return;
  }
}

void echo_asio_read_some(tcp::socket s) {
  char buf[16384];
  for (;;) {
    auto [ec, n] =
        await(s, [&](auto handler) { s.async_read_some(asio::buffer(buf), std::move(handler)); });
    if (ec) return;
    auto [wec, written] = await(
        s, [&](auto handler) { asio::async_write(s, asio::buffer(buf, n), std::move(handler)); });
    if (wec) return;
  }
}

void echo_use_fiber(tcp::socket s) {
  char buf[16384];
  for (;;) {
    error_code ec;
    std::size_t n = s.async_read_some(asio::buffer(buf), grove::use_fiber[ec]);
    if (ec) return;
    asio::async_write(s, asio::buffer(buf, n), grove::use_fiber[ec]);
    if (ec) return;
  }
}

template <class Echo>
void serve_asio(unsigned short port, Echo echo) {
  auto& io = grove::hub::current().io_context();
  tcp::acceptor acceptor(io);
  try {
    acceptor = tcp::acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  } catch (const boost::system::system_error& e) {  // its what() adds Boost's source location
    throw grove::error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                       e.code().message());
  }
  for (;;) {
    tcp::socket socket(io);
    auto [ec] = grove::detail::await_asio<error_code>(
        [&](auto handler) { acceptor.async_accept(socket, std::move(handler)); },
        [&] { acceptor.cancel(); });
    if (!ec) grove::spawn(echo, std::move(socket));
  }
}

void echo_grove(grove::net::tcp_stream conn) {
  char buf[16384];
  try {
    while (std::size_t n = conn.read_some(asio::buffer(buf))) conn.write_all(asio::buffer(buf, n));
  } catch (const grove::net::net_error&) {
  }
}

/// Serves the echo on 127.0.0.1:`port` with `strategy` until killed.
void serve(const std::string& strategy, unsigned short port) {
  grove::run([&] {
    if (strategy == "asio_wait") {
      serve_asio(port, echo_asio_wait);
    } else if (strategy == "asio_read_some") {
      serve_asio(port, echo_asio_read_some);
    } else if (strategy == "use_fiber") {
      serve_asio(port, echo_use_fiber);
    } else {
      grove::net::serve(grove::net::tcp_listener::bind("127.0.0.1", port), echo_grove);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string strategy;
  long port_number = 0;
  if (int rc = bench::parse_positional(
          argc, argv, "usage: net_wait_strategies asio_wait|asio_read_some|use_fiber|grove PORT",
          {{"STRATEGY", strategy, "asio_wait|asio_read_some|use_fiber|grove"},
           {"PORT", port_number, 1, 65535}},
          2);
      rc >= 0) {
    return rc;
  }
  auto port = static_cast<unsigned short>(port_number);
  try {
    serve(strategy, port);
  } catch (const std::exception& e) {  // a busy port...
    std::fprintf(stderr, "net_wait_strategies: %s\n", e.what());
    return 1;
  }
}
