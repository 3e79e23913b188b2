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

#include "bench_util.hpp"

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

const char* usage = "usage: cores_echo CORES ROUNDS SIZE PORT | cores_echo --time ROUNDS SIZE";

}  // namespace

int main(int argc, char** argv) {
  long rounds_count = 0, size_count = 0;
  if (argc > 1 && std::strcmp(argv[1], "--time") == 0) {
    if (int rc = bench::parse_positional(
            argc, argv, usage,
            {{"ROUNDS", rounds_count, 0, 1'000'000}, {"SIZE", size_count, 1, 1 << 26}}, 2, 2);
        rc >= 0) {
      return rc;
    }
    std::printf("us_per_request=%.2f\n",
                time_handler(static_cast<int>(rounds_count), static_cast<std::size_t>(size_count)));
    return 0;
  }
  long cores_count = 0, port_number = 0;
  if (int rc = bench::parse_positional(argc, argv, usage,
                                       {{"CORES", cores_count, 1, 1024},
                                        {"ROUNDS", rounds_count, 0, 1'000'000},
                                        {"SIZE", size_count, 1, 1 << 26},
                                        {"PORT", port_number, 0, 65535}},
                                       4);
      rc >= 0) {
    return rc;
  }
  auto cores = static_cast<std::size_t>(cores_count);
  auto rounds = static_cast<int>(rounds_count);
  auto size = static_cast<std::size_t>(size_count);
  auto port = static_cast<std::uint16_t>(port_number);
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
