// N fibers each sleeping a random 0-1 s: wall time beyond 1 s, and peak RSS. Compare with
// bench/peers/go_timers. Default kernel settings suffice where stacks get guard regions (Linux
// >= 6.13): a million live stacks take a few hundred mappings. cpu_ms is the whole program's CPU
// time (user + system), as go_timers reports it: on a loaded machine wall time also counts the
// time other processes ran. peak_alive: the most fibers started and not finished at once (what
// the peak RSS pays for: each has a touched stack page); rss_per_alive_b = peak RSS / that.
// Mode `join` keeps every fiber's handle and joins them in order (gevent's joinall); `detached`
// drops the handles and the last sleeper to wake sets an event (Go's WaitGroup, as go_timers
// does it), so a finished fiber leaves nothing behind. A `rate` (fibers per second) paces the
// spawn loop (a sleep every millisecond's share), as connections arriving at that rate would:
// then both runtimes have about as many sleepers alive (rate × the mean sleep, Little's law)
// and the peak RSS compares their memory per live fiber; without it the faster runtime starts
// more at once.
//   timer_bench [N] [stack_kib] [join|detached] [rate]
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <grove/grove.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  long n = 1'000'000, stack_kib = 0, rate = 0;
  std::string mode = "join";
  if (int rc = bench::parse_positional(
          argc, argv,
          "usage: timer_bench [N] [STACK_KIB] [join|detached] [RATE]\n"
          "  N fibers (default 1000000) sleep 0-1 s; STACK_KIB 0: the default stack; RATE: fibers\n"
          "  a second (default 0: all at once)",
          {{"N", n, 1, 100'000'000},
           {"STACK_KIB", stack_kib, 0, 1 << 20},
           {"MODE", mode, "join|detached"},
           {"RATE", rate, 0, 1'000'000'000}});
      rc >= 0) {
    return rc;
  }
  std::size_t stack = static_cast<std::size_t>(stack_kib) * 1024;
  bool detached = mode == "detached";
  grove::spawn_options options;
  if (stack) options.stack_size = stack;
  double spawn_ms = 0, total_ms = 0;
  long woke = 0;
  long started = 0, peak_alive = 0;  // fibers started and not finished: the most at once
  grove::run([&] {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> delay_us(0, 1'000'000);
    std::vector<grove::fiber<void>> fibers;
    if (!detached) fibers.reserve(static_cast<std::size_t>(n));
    grove::event all_woke;
    auto start = bench::clock_type::now();
    long chunk = rate ? std::max(1L, rate / 1000) : n;
    for (long i = 0; i < n; ++i) {
      if (rate && i % chunk == 0) {
        grove::this_fiber::sleep_until(start +
                                       std::chrono::nanoseconds(i * 1'000'000'000LL / rate));
      }
      auto d = std::chrono::microseconds(delay_us(rng));
      auto f = grove::spawn(options, [d, n, &woke, &started, &peak_alive, &all_woke] {
        ++started;
        if (started - woke > peak_alive) peak_alive = started - woke;
        grove::this_fiber::sleep_for(d);
        if (++woke == n) all_woke.set();
      });
      if (!detached) fibers.push_back(std::move(f));
    }
    spawn_ms = bench::ns_since(start) / 1e6;
    if (detached) all_woke.wait();
    for (auto& f : fibers) f.join();
    total_ms = bench::ns_since(start) / 1e6;
  });
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu_ms = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  long peak_kib = bench::status_kib("VmHWM");
  std::printf(
      "extra_ms=%.0f spawn_ms=%.0f peak_rss_kib=%ld cpu_ms=%.0f peak_alive=%ld "
      "rss_per_alive_b=%.0f\n",
      total_ms - 1000.0, spawn_ms, peak_kib, cpu_ms, peak_alive,
      peak_alive ? static_cast<double>(peak_kib) * 1024.0 / static_cast<double>(peak_alive) : 0.0);
  return woke == n ? 0 : 1;
}
