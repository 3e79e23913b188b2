// The echo server of bench/run_net_bench.sh written twice in one program, fiber per connection:
//   shims_echo native PORT   grove::net::tcp_listener / tcp_stream (grove's own sockets)
//   shims_echo plain PORT    plain blocking socket/bind/listen/accept/recv/send, made
//                            cooperative by libgrove_shims (this program links it)
// Same loop, same buffer, same hub: the difference is what the shims cost per round trip.
// Listens on 127.0.0.1 until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <grove/net/tcp.hpp>
#include <string>

#include "bench_util.hpp"

namespace {

void native(std::uint16_t port) {
  auto listener = grove::net::tcp_listener::bind("127.0.0.1", port);
  for (;;) {
    auto conn = std::make_shared<grove::net::tcp_stream>(listener.accept());
    grove::spawn([conn] {
      char buf[16384];
      try {
        while (std::size_t n = conn->read_some(boost::asio::buffer(buf))) {
          conn->write_all(boost::asio::buffer(buf, n));
        }
      } catch (const grove::net::net_error&) {
      }
    });
  }
}

void plain(std::uint16_t port) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, SOMAXCONN) != 0) {
    std::fprintf(stderr, "shims_echo: cannot listen on 127.0.0.1:%u: %s\n", unsigned(port),
                 std::strerror(errno));
    std::exit(1);
  }
  for (;;) {
    int conn = ::accept(listener, nullptr, nullptr);
    if (conn < 0) continue;
    grove::spawn([conn] {
      char buf[16384];
      for (;;) {
        ssize_t n = ::recv(conn, buf, sizeof buf, 0);
        if (n <= 0) break;
        if (::send(conn, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
      }
      ::close(conn);
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode;
  long port = 0;
  if (int rc =
          bench::parse_positional(argc, argv, "usage: shims_echo native|plain PORT",
                                  {{"MODE", mode, "native|plain"}, {"PORT", port, 1, 65535}}, 2);
      rc >= 0) {
    return rc;
  }
  try {
    grove::run(
        [&] { mode == "native" ? native(std::uint16_t(port)) : plain(std::uint16_t(port)); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shims_echo: %s\n", e.what());
    return 1;
  }
}
