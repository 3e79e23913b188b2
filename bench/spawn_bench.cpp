// Spawn N trivial fibers, then join them all: ns per fiber. Compare with Boost.Fiber
// (bench/peers/boost_fiber_spawn) and Go (bench/peers/go_spawn) in the same run. A warm-up round
// of the same size runs first, as in the peers.
//   spawn_bench [N]
#include <cstdio>
#include <grove/grove.hpp>
#include <vector>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  long n = 1'000'000;
  if (int rc = bench::parse_positional(
          argc, argv,
          "usage: spawn_bench [N]   spawn N trivial fibers (default 1000000), join them; twice",
          {{"N", n, 1, 100'000'000}});
      rc >= 0) {
    return rc;
  }
  long sink = 0;
  auto round = [n, &sink] {
    std::vector<grove::fiber<void>> fibers;
    fibers.reserve(static_cast<std::size_t>(n));
    auto start = bench::clock_type::now();
    for (long i = 0; i < n; ++i) fibers.push_back(grove::spawn([&sink] { ++sink; }));
    for (auto& f : fibers) f.join();
    return bench::ns_since(start) / static_cast<double>(n);
  };
  double cold = 0, warm = 0;
  grove::run([&] {
    cold = round();
    warm = round();
  });
  std::printf("ns_per_fiber=%.1f cold_ns_per_fiber=%.1f\n", warm, cold);
  return sink == 2 * n ? 0 : 1;
}
