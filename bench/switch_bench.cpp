// Yield ping-pong: ns per switch (one yield hands the thread to the other fiber), for the two
// pairs a program meets: two spawned fibers, and the main fiber (grove::run's) with a spawned
// one. Compare with bench/peers/raw_context_switch (raw Boost.Context) in the same run.
//   switch_bench [switches]
#include <cstdio>
#include <grove/grove.hpp>

#include "bench_util.hpp"

namespace {

double spawned_pair(long n) {
  auto body = [n] {
    for (long i = 0; i < n / 2; ++i) grove::this_fiber::yield();
  };
  auto a = grove::spawn(body);
  auto b = grove::spawn(body);
  auto start = bench::clock_type::now();
  a.join();
  b.join();
  return bench::ns_since(start) / static_cast<double>(n);
}

double main_and_spawned(long n) {
  auto other = grove::spawn([n] {
    for (long i = 0; i < n / 2; ++i) grove::this_fiber::yield();
  });
  grove::this_fiber::yield();  // let it start: both now sit in the loop below
  auto start = bench::clock_type::now();
  for (long i = 0; i < n / 2; ++i) grove::this_fiber::yield();
  double ns = bench::ns_since(start) / static_cast<double>(n);
  other.join();
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  long switches = bench::arg_or(argc, argv, 1, 20'000'000);
  auto [spawned, with_main] = grove::run([switches] {
    spawned_pair(switches / 10);  // warm-up
    main_and_spawned(switches / 10);
    return std::pair{spawned_pair(switches), main_and_spawned(switches)};
  });
  std::printf("ns_per_switch=%.2f main_ns_per_switch=%.2f\n", spawned, with_main);
}
