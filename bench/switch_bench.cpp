// Yield ping-pong between two fibers: ns per switch (one yield hands the thread to the other
// fiber). Compare with bench/peers/raw_context_switch (raw Boost.Context) in the same run.
//   switch_bench [switches]
#include <cstdio>

#include <grove/grove.hpp>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  long switches = bench::arg_or(argc, argv, 1, 20'000'000);
  double ns = grove::run([switches] {
    auto pingpong = [](long n) {
      auto body = [n] {
        for (long i = 0; i < n / 2; ++i) grove::this_fiber::yield();
      };
      auto a = grove::spawn(body);
      auto b = grove::spawn(body);
      auto start = bench::clock_type::now();
      a.join();
      b.join();
      return bench::ns_since(start) / static_cast<double>(n);
    };
    pingpong(switches / 10);  // warm-up
    return pingpong(switches);
  });
  std::printf("ns_per_switch=%.2f\n", ns);
}
