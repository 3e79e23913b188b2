// An echo server: grove::net::server runs one fiber per connection, each a plain read/write
// loop. Listens on 127.0.0.1; Ctrl-C (SIGINT) or SIGTERM stops it gracefully: a fiber waits in
// grove::wait_signal, then the server stops accepting and its connections get a second to end.
//   echo_server [--port N] [--max-connections N] [--cores N [--pin]] [--tour]
// --port 0 (the default) picks a free port and prints it. --cores N (0: one per hardware
// thread) serves on N hubs, one thread each (grove::run_on_cores): every hub accepts on its own
// SO_REUSEPORT listener (grove::net::sharded_server) and the kernel spreads the connections; a
// connection stays on the core that accepted it. --pin pins core i to CPU i. --tour runs a short
// self-contained demo (one hub, then two) and exits.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <grove/cores.hpp>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/sharded_server.hpp>
#include <memory>
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

/// `count` clients, two lines each, against `port`; prints what comes back.
void run_clients(std::uint16_t port, int count) {
  std::vector<grove::fiber<void>> clients;
  for (int id = 1; id <= count; ++id) {
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
}

void tour_one_hub() {
  net::server server(net::tcp_listener::bind("127.0.0.1", 0), echo);
  server.start();
  auto port = server.listener().local_endpoint().port();
  std::printf("echo server listening on 127.0.0.1:%u\n", static_cast<unsigned>(port));
  run_clients(port, 3);
  std::printf("%zu handler(s) still running; stopping gracefully\n", server.connection_count());
  server.stop();
  std::printf("stopped\n");
}

/// The same server on two hubs: each connection says which core took it.
void tour_two_hubs() {
  std::atomic<int> taken[2] = {0, 0};
  net::sharded_server server("127.0.0.1", 0, [&](net::tcp_stream conn) {
    ++taken[grove::this_core::index()];
    echo(std::move(conn));
  });
  std::printf("\nthe same on 2 cores: a listener per hub on 127.0.0.1:%u (SO_REUSEPORT)\n",
              static_cast<unsigned>(server.port()));
  grove::run_on_cores(2, [&](std::size_t core) {
    if (core == 1) return server.serve();
    auto share = grove::spawn([&] { server.serve(); });
    // Connections reach only the hubs listening when they arrive: wait until both accept.
    if (!server.wait_serving_for(2, std::chrono::seconds(5))) {
      std::fprintf(stderr, "echo_server: the second core did not start serving in 5 s\n");
    }
    std::vector<grove::fiber<void>> clients;
    for (int id = 0; id < 20; ++id) {
      clients.push_back(grove::spawn([&] {
        auto conn = net::tcp_stream::connect("127.0.0.1", server.port());
        conn.write_all("ping\n");
        conn.read_until("\n");
      }));
    }
    for (auto& c : clients) c.get();
    server.stop();  // every hub's share, each on its own hub
    share.join();
  });
  std::printf("20 connections: core 0 took %d, core 1 took %d (the kernel's hash decides)\n",
              taken[0].load(), taken[1].load());
  std::printf("stopped on both cores\n");
}

const char* usage =
    "usage: echo_server [--port N] [--max-connections N] [--cores N [--pin]] [--tour]\n"
    "  --port N             listen on 127.0.0.1:N (0, the default: any free port)\n"
    "  --max-connections N  connections handled at once per hub (0: no limit)\n"
    "  --cores N            hubs, one thread each (default 1; 0: one per hardware thread)\n"
    "  --pin                pin core i to CPU i\n"
    "  --tour               a short demo on one hub, then two, and exit\n";

/// Serves on one hub: grove::net::server, until SIGINT / SIGTERM.
void serve_one_hub(std::uint16_t port, const net::server_options& options) {
  grove::run([&] {
    net::server server(net::tcp_listener::bind("127.0.0.1", port), echo, options);
    server.start();
    sample::serve_until_signal("echo_server", server.listener().local_endpoint().port(), [&] {
      std::size_t open = server.connection_count();
      server.stop(std::chrono::seconds(1));
      return std::to_string(open) + " connection(s) were open";
    });
  });
}

/// Serves on several hubs: grove::net::sharded_server on grove::run_on_cores.
void serve_on_cores(std::uint16_t port, const net::server_options& options,
                    const grove::cores_options& layout) {
  std::size_t cores = grove::core_count(layout);
  auto taken = std::make_unique<std::atomic<unsigned long>[]>(cores);
  net::sharded_server server(
      "127.0.0.1", port,
      [&](net::tcp_stream conn) {
        ++taken[grove::this_core::index()];
        echo(std::move(conn));
      },
      options);
  int number = 0;
  grove::run_on_cores(layout, [&](std::size_t core) {
    grove::fiber<void> watcher;
    if (core == 0) {  // one core waits for the signal; stop() reaches every core's share
      watcher = grove::spawn([&] {
        // Said once every core accepts, so a client that waits for this line reaches them all.
        if (server.wait_serving(cores)) {
          std::printf("echo_server: listening on 127.0.0.1:%u with %zu cores\n",
                      static_cast<unsigned>(server.port()), cores);
          std::fflush(stdout);
        }
        number = grove::wait_signal({SIGINT, SIGTERM});
        server.stop(std::chrono::seconds(1));  // asks each hub to stop its share
      });
    }
    server.serve();
    if (watcher.valid()) {
      watcher.kill();  // serve() may also end for another reason
      watcher.join();
    }
  });
  for (std::size_t core = 0; core < cores; ++core) {
    std::printf("echo_server: core %zu handled %lu connection(s)\n", core, taken[core].load());
  }
  std::printf("echo_server: stopped on %s\n", number == SIGINT ? "SIGINT" : "SIGTERM");
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0, max_connections = 0, cores = 1;
  bool tour = false, pin = false;
  if (int rc = sample::parse_options(argc, argv, usage,
                                     {{"--port", &port, 0, 65535},
                                      {"--max-connections", &max_connections, 0, 1ul << 30},
                                      {"--cores", &cores, 0, 1024}},
                                     {{"--tour", &tour}, {"--pin", &pin}});
      rc >= 0) {
    return rc;
  }
  try {
    if (tour) {
      grove::run(tour_one_hub);
      tour_two_hubs();
      return 0;
    }
    net::server_options options;
    options.max_connections = max_connections;
    if (cores == 1 && !pin) {
      serve_one_hub(static_cast<std::uint16_t>(port), options);
    } else {
      grove::cores_options layout;
      layout.cores = cores;
      layout.pin = pin;
      serve_on_cores(static_cast<std::uint16_t>(port), options, layout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
