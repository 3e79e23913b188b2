// Yield ping-pong: ns per switch (one yield hands the thread to the other fiber), for the two
// pairs a program meets: two spawned fibers, and the main fiber (grove::run's) with a spawned
// one. Compare with bench/peers/raw_context_switch (raw Boost.Context) in the same run.
//   switch_bench [switches]
#include <time.h>

#include <cstdio>
#include <grove/grove.hpp>

#include "bench_util.hpp"

namespace {

// CPU time too: on a loaded machine wall time also counts the time other processes ran.
double cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

struct timing {
  double wall_ns;
  double cpu_ns;
};

struct stopwatch {
  bench::clock_type::time_point wall = bench::clock_type::now();
  double cpu = cpu_ns();
  timing per(long n) const {
    return {bench::ns_since(wall) / static_cast<double>(n),
            (cpu_ns() - cpu) / static_cast<double>(n)};
  }
};

timing spawned_pair(long n) {
  auto body = [n] {
    for (long i = 0; i < n / 2; ++i) grove::this_fiber::yield();
  };
  auto a = grove::spawn(body);
  auto b = grove::spawn(body);
  stopwatch watch;
  a.join();
  b.join();
  return watch.per(n);
}

timing main_and_spawned(long n) {
  auto other = grove::spawn([n] {
    for (long i = 0; i < n / 2; ++i) grove::this_fiber::yield();
  });
  grove::this_fiber::yield();  // let it start: both now sit in their loops
  stopwatch watch;
  for (long i = 0; i < n / 2; ++i) grove::this_fiber::yield();
  timing t = watch.per(n);
  other.join();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  long switches = bench::arg_or(argc, argv, 1, 20'000'000);
  auto [spawned, with_main] = grove::run([switches] {
    spawned_pair(switches / 10);  // warm-up
    main_and_spawned(switches / 10);
    return std::pair{spawned_pair(switches), main_and_spawned(switches)};
  });
  std::printf(
      "ns_per_switch=%.2f main_ns_per_switch=%.2f cpu_ns_per_switch=%.2f "
      "main_cpu_ns_per_switch=%.2f\n",
      spawned.wall_ns, with_main.wall_ns, spawned.cpu_ns, with_main.cpu_ns);
}
