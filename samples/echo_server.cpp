// An echo server: grove::net::server runs one fiber per connection, each a plain read/write
// loop. Listens on 127.0.0.1; Ctrl-C (SIGINT) or SIGTERM stops it gracefully.
//   echo_server [--port N] [--max-connections N] [--tour]
// --port 0 (the default) picks a free port and prints it. --tour runs a short self-contained
// demo (the server plus three clients in the same hub) and exits.
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <string>
#include <vector>

#include "sample_args.hpp"

namespace net = grove::net;

namespace {

/// Sends every byte back until the client closes its side.
void echo(net::tcp_stream conn) {
  char buf[16384];
  try {
    while (std::size_t n = conn.read_some(boost::asio::buffer(buf))) {
      conn.write_all(boost::asio::buffer(buf, n));
    }
  } catch (const net::net_error&) {
    // a client that resets is its own business
  }
}

void tour() {
  net::server server(net::tcp_listener::bind("127.0.0.1", 0), echo);
  server.start();
  auto port = server.listener().local_endpoint().port();
  std::printf("echo server listening on 127.0.0.1:%u\n", static_cast<unsigned>(port));
  std::vector<grove::fiber<void>> clients;
  for (int id = 1; id <= 3; ++id) {
    clients.push_back(grove::spawn([port, id] {
      auto conn = net::tcp_stream::connect("127.0.0.1", port);
      for (int i = 1; i <= 2; ++i) {
        std::string line = "client " + std::to_string(id) + " line " + std::to_string(i) + "\n";
        conn.write_all(line);
        std::printf("client %d got back: %s", id, conn.read_until("\n").c_str());
      }
    }));
  }
  for (auto& c : clients) c.get();
  std::printf("%zu handler(s) still running; stopping gracefully\n", server.connection_count());
  server.stop();
  std::printf("stopped\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (sample::flag(argc, argv, "--tour")) {
    grove::run(tour);
    return 0;
  }
  auto port = static_cast<std::uint16_t>(sample::option(argc, argv, "--port", 0));
  net::server_options options;
  options.max_connections =
      static_cast<std::size_t>(sample::option(argc, argv, "--max-connections", 0));
  grove::run([&] {
    net::server server(net::tcp_listener::bind("127.0.0.1", port), echo, options);
    std::printf("echo_server: listening on 127.0.0.1:%u\n",
                static_cast<unsigned>(server.listener().local_endpoint().port()));
    std::fflush(stdout);
    // Signals arrive as Asio completions on the hub; a callback must not wait, so it spawns the
    // fiber that stops the server.
    boost::asio::signal_set signals(grove::hub::current().io_context(), SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) grove::spawn([&] { server.stop(); });
    });
    server.serve_forever();
    signals.cancel();
    std::printf("echo_server: stopped\n");
  });
}
