// The server of bench/run_cores_bench.sh: an echo whose handler spends a fixed amount of CPU per
// request, so that a 2-core machine is bound by the server, not by the load generator or the
// kernel's loopback work. Each request is SIZE bytes; the handler hashes it ROUNDS times over
// (FNV-1a, 64-bit: a serial multiply chain no compiler can shorten, the same loop as the Go peer
// bench/peers/go_hash_echo), writes the hash into the reply's first 8 bytes and sends SIZE bytes
// back. A fiber per connection, one grove::net::sharded_server share per core.
//   cores_echo CORES ROUNDS SIZE PORT      serve on 127.0.0.1:PORT with CORES hubs, until killed
//   cores_echo --time ROUNDS SIZE          print the handler's CPU cost: us_per_request=X
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/cores.hpp>
#include <grove/fiber.hpp>
#include <grove/net/sharded_server.hpp>
#include <string>
#include <vector>

namespace {

std::uint64_t fnv1a(const unsigned char* data, std::size_t size, int rounds) {
  std::uint64_t h = 14695981039346656037ull;
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < size; ++i) {
      h ^= data[i];
      h *= 1099511628211ull;
    }
  }
  return h;
}

void answer(unsigned char* request, std::size_t size, int rounds) {
  std::uint64_t h = fnv1a(request, size, rounds);
  std::memcpy(request, &h, std::min(size, sizeof h));
}

/// CPU time of one request's handler work, median of 7 batches of 200.
double time_handler(int rounds, std::size_t size) {
  std::vector<unsigned char> request(size, 'x');
  std::vector<double> batches;
  for (int b = 0; b < 7; ++b) {
    timespec t0, t1;
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; i < 200; ++i) answer(request.data(), size, rounds);
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    batches.push_back(((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 200 / 1e3);
  }
  std::sort(batches.begin(), batches.end());
  return batches[batches.size() / 2];
}

int usage() {
  std::fprintf(stderr,
               "usage: cores_echo CORES ROUNDS SIZE PORT | cores_echo --time ROUNDS SIZE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--time") == 0) {
    std::printf("us_per_request=%.2f\n", time_handler(std::atoi(argv[2]), std::atol(argv[3])));
    return 0;
  }
  if (argc != 5) return usage();
  std::size_t cores = std::strtoul(argv[1], nullptr, 10);
  int rounds = std::atoi(argv[2]);
  std::size_t size = std::strtoul(argv[3], nullptr, 10);
  auto port = static_cast<std::uint16_t>(std::atoi(argv[4]));
  if (cores == 0 || rounds < 0 || size == 0) return usage();
  try {
    grove::net::sharded_server server("127.0.0.1", port, [=](grove::net::tcp_stream conn) {
      conn.set_no_delay();  // as Go does by default
      std::vector<unsigned char> request(size);
      try {
        for (;;) {
          std::size_t got = 0;
          while (got < size) {
            std::size_t n = conn.read_some(boost::asio::buffer(request.data() + got, size - got));
            if (n == 0) return;
            got += n;
          }
          answer(request.data(), size, rounds);
          conn.write_all(boost::asio::buffer(request));
        }
      } catch (const grove::net::net_error&) {
      }
    });
    grove::run_on_cores(cores, [&](std::size_t) { server.serve(); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cores_echo: %s\n", e.what());
    return 1;
  }
}
