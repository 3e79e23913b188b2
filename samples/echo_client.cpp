// An echo load generator: many connections, one fiber each, each sending a message and waiting
// for it to come back, as fast as it can; prints round trips per second at the end.
//   echo_client [--port N] [--connections C] [--seconds S] [--size B] [--tour]
// Connects to 127.0.0.1:N (an echo_server). --tour runs a short self-contained demo instead:
// an echo server in the same hub and 50 connections for half a second.
#include <chrono>
#include <cstdio>
#include <exception>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <string>
#include <vector>

#include "sample_args.hpp"

namespace net = grove::net;
using clock_type = std::chrono::steady_clock;

namespace {

/// Runs `connections` ping-pong clients against 127.0.0.1:`port` for `seconds`; returns the
/// total number of round trips.
std::size_t load(std::uint16_t port, int connections, double seconds, std::size_t size) {
  std::size_t round_trips = 0;
  auto until = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                       std::chrono::duration<double>(seconds));
  std::vector<grove::fiber<void>> clients;
  for (int i = 0; i < connections; ++i) {
    clients.push_back(grove::spawn([&] {
      auto conn = net::tcp_stream::connect("127.0.0.1", port);
      std::string message(size, 'x');
      std::string reply(size, '\0');
      while (clock_type::now() < until) {
        conn.write_all(message);
        conn.read_exact(boost::asio::buffer(reply));
        ++round_trips;
      }
    }));
  }
  for (auto& c : clients) c.get();
  return round_trips;
}

const char* usage =
    "usage: echo_client --port N [--connections C] [--seconds S] [--size B] | --tour\n"
    "  loads the echo server on 127.0.0.1:N, one fiber a connection; prints round trips/s\n"
    "  --port N         the echo server's port (required, e.g. an echo_server's)\n"
    "  --connections C  connections, each a ping-pong loop (default 100)\n"
    "  --seconds S      how long to run (default 5)\n"
    "  --size B         bytes of each message (default 64)\n"
    "  --tour           an in-process echo server and 50 connections for 0.5 s, no --port\n";

void report(std::size_t round_trips, int connections, double seconds) {
  std::printf("echo_client: %d connections, %.1f s: %zu round trips, round_trips_per_s=%.0f\n",
              connections, seconds, round_trips, static_cast<double>(round_trips) / seconds);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0, connections = 100, size = 64;
  double seconds = 5;
  bool tour = false;
  if (int rc = sample::parse_options(argc, argv, usage,
                                     {{"--port", &port, 1, 65535},
                                      {"--connections", &connections, 1, 100000},
                                      {"--seconds", &seconds, 0.001, 86400},
                                      {"--size", &size, 1, 1 << 24}},
                                     {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  if (tour) {
    grove::run([] {
      net::server echo(net::tcp_listener::bind("127.0.0.1", 0), [](net::tcp_stream conn) {
        char buf[4096];
        while (std::size_t n = conn.read_some(boost::asio::buffer(buf))) {
          conn.write_all(boost::asio::buffer(buf, n));
        }
      });
      echo.start();
      std::printf("in-process echo server on port %u; 50 clients for 0.5 s...\n",
                  static_cast<unsigned>(echo.listener().local_endpoint().port()));
      report(load(echo.listener().local_endpoint().port(), 50, 0.5, 64), 50, 0.5);
      echo.stop();
    });
    return 0;
  }
  if (port == 0) {
    std::fprintf(stderr, "echo_client: --port N is required (try --help)\n");
    return 2;
  }
  try {
    grove::run([&] {
      auto count = static_cast<int>(connections);
      report(load(static_cast<std::uint16_t>(port), count, seconds, size), count, seconds);
    });
  } catch (const std::exception& e) {  // e.g. nothing listens on the port
    std::fprintf(stderr, "echo_client: %s\n", e.what());
    return 1;
  }
}
