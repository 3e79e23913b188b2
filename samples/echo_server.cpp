// An echo server: grove::net::server runs one fiber per connection, each a plain read/write
// loop. Listens on 127.0.0.1; Ctrl-C (SIGINT) or SIGTERM stops it gracefully: a fiber waits in
// grove::wait_signal, then the server stops accepting and its connections get a second to end.
//   echo_server [--port N] [--max-connections N] [--tour]
// --port 0 (the default) picks a free port and prints it. --tour runs a short self-contained
// demo (the server plus three clients in the same hub) and exits.
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <string>
#include <vector>

#include "net_sample.hpp"

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

const char* usage =
    "usage: echo_server [--port N] [--max-connections N]  serve on 127.0.0.1 until SIGINT/SIGTERM\n"
    "       echo_server --tour                            a self-contained demo, then exit\n"
    "--port 0 (the default) picks a free port and prints it.\n";

}  // namespace

int main(int argc, char** argv) {
  auto serve = [&] {
    auto port = static_cast<std::uint16_t>(sample::option(argc, argv, "--port", 0));
    net::server_options options;
    options.max_connections =
        static_cast<std::size_t>(sample::option(argc, argv, "--max-connections", 0));
    net::server server(net::tcp_listener::bind("127.0.0.1", port), echo, options);
    server.start();
    sample::serve_until_signal("echo_server", server.listener().local_endpoint().port(), [&] {
      std::size_t open = server.connection_count();
      server.stop(std::chrono::seconds(1));
      return std::to_string(open) + " connection(s) were open";
    });
  };
  return sample::run_sample(argc, argv, usage, tour, serve);
}
