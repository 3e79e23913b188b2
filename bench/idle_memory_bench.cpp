// RSS per idle fiber: N fibers each blocked (in a sleep of an hour), default settings. Compare
// with bench/peers/go_idle_memory. Default kernel settings suffice where stacks get guard regions
// (Linux >= 6.13); with mprotect guards (GROVE_STACK_GUARD=mprotect) N is capped near 32k.
//   idle_memory_bench [N]
#include <cstdio>
#include <grove/grove.hpp>
#include <vector>

#include "bench_util.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  long n = 100'000;
  if (int rc = bench::parse_positional(
          argc, argv,
          "usage: idle_memory_bench [N]   RSS per idle fiber, N asleep (default 100000)",
          {{"N", n, 1, 100'000'000}});
      rc >= 0) {
    return rc;
  }
  grove::run([n] {
    grove::this_fiber::sleep_for(1ms);  // warm the hub up
    long before = bench::status_kib("VmRSS");
    std::vector<grove::fiber<void>> fibers;
    fibers.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
      fibers.push_back(grove::spawn([] { grove::this_fiber::sleep_for(1h); }));
    }
    // A yield runs every fiber spawned before it: all have started and are asleep. (A sleep
    // would not do: a woken fiber need not wait for every pending start.)
    grove::this_fiber::yield();
    long after = bench::status_kib("VmRSS");
    std::printf("rss_bytes_per_fiber=%.0f fibers=%ld\n",
                static_cast<double>(after - before) * 1024.0 / static_cast<double>(n), n);
    for (auto& f : fibers) f.kill();
  });
}
