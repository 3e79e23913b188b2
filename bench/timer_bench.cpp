// N fibers each sleeping a random 0-1 s: wall time beyond 1 s, and peak RSS. Compare with
// bench/peers/go_timers. Default kernel settings suffice where stacks get guard regions (Linux
// >= 6.13): a million live stacks take a few hundred mappings. cpu_ms is the whole program's CPU
// time (user + system), as go_timers reports it: on a loaded machine wall time also counts the
// time other processes ran.
//   timer_bench [N] [stack_kib]
#include <sys/resource.h>

#include <cstdio>
#include <random>
#include <vector>

#include <grove/grove.hpp>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  long n = bench::arg_or(argc, argv, 1, 1'000'000);
  std::size_t stack = static_cast<std::size_t>(bench::arg_or(argc, argv, 2, 0)) * 1024;
  grove::spawn_options options;
  if (stack) options.stack_size = stack;
  double spawn_ms = 0, total_ms = 0;
  long woke = 0;
  grove::run([&] {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> delay_us(0, 1'000'000);
    std::vector<grove::fiber<void>> fibers;
    fibers.reserve(static_cast<std::size_t>(n));
    auto start = bench::clock_type::now();
    for (long i = 0; i < n; ++i) {
      auto d = std::chrono::microseconds(delay_us(rng));
      fibers.push_back(grove::spawn(options, [d, &woke] {
        grove::this_fiber::sleep_for(d);
        ++woke;
      }));
    }
    spawn_ms = bench::ns_since(start) / 1e6;
    for (auto& f : fibers) f.join();
    total_ms = bench::ns_since(start) / 1e6;
  });
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu_ms = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  std::printf("extra_ms=%.0f spawn_ms=%.0f peak_rss_kib=%ld cpu_ms=%.0f\n", total_ms - 1000.0,
              spawn_ms, bench::status_kib("VmHWM"), cpu_ms);
  return woke == n ? 0 : 1;
}
