// The talk's pitfall #1: fibers are cooperative, so a fiber that computes without waiting
// starves every other fiber on its hub. A ticker fiber wants to run every --tick-ms; we measure
// the worst delay it sees while another fiber does --work-ms of CPU-heavy work:
//   1. the work runs in one go: the ticker waits for all of it;
//   2. the same work calls grove::this_fiber::yield() after every slice of about 1 ms: the
//      ticker runs between slices;
//   3. the work runs on the thread pool with grove::offload: the hub stays free (on a machine
//      with a spare core the work also runs in parallel with the fibers).
//   cpu_pitfall [--work-ms W] [--tick-ms T] [--tour]   (defaults 500 ms and 5 ms)
// Run it under the blocking monitor to see case 1 caught in the act: the report names the fiber
// ('cruncher'), how long it held the hub, and its backtrace down to crunch():
//   GROVE_MONITOR_MS=50 cpu_pitfall
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <grove/grove.hpp>

#include "sample_args.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const char* usage =
    "usage: cpu_pitfall [--work-ms W] [--tick-ms T] [--tour]\n"
    "  a fiber crunches numbers for about W ms (in one go, yielding every ~1 ms, offloaded to\n"
    "  the thread pool) while a ticker fiber wants to run every T ms; prints the worst delay\n"
    "  the ticker sees in each case. defaults: 500 ms, 5 ms\n";

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// One slice of CPU-heavy work (xorshift rounds); the result keeps the compiler honest.
[[gnu::noinline]] std::uint64_t crunch(std::uint64_t x, std::uint64_t rounds) {
  for (std::uint64_t i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

/// Rounds of crunch() that take about 1 ms here (best of a few tries: the machine is shared).
std::uint64_t rounds_per_ms() {
  std::uint64_t rounds = 1 << 16;
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    auto start = steady::now();
    volatile std::uint64_t sink = crunch(i + 1, rounds);
    (void)sink;
    best = std::min(best, ms(steady::now() - start));
  }
  return static_cast<std::uint64_t>(rounds / std::max(best, 1e-3));
}

enum class style { in_one_go, yielding, offloaded };

/// Runs `slices` slices of work in `how` while a ticker measures its worst delay.
void measure(const char* title, style how, std::uint64_t slices, std::uint64_t rounds,
             std::chrono::milliseconds tick) {
  steady::duration worst{0};
  int ticks = 0;
  auto ticker = grove::spawn([&] {
    auto due = steady::now() + tick;
    for (;;) {
      grove::this_fiber::sleep_until(due);
      worst = std::max(worst, steady::now() - due);
      ++ticks;
      due = steady::now() + tick;
    }
  });
  grove::this_fiber::sleep_for(2 * tick);  // the ticker is running before the work starts
  auto start = steady::now();
  std::uint64_t result = 1;
  // The work runs in its own named fiber, so reports (the blocking monitor's) name it.
  auto cruncher = grove::spawn({.name = "cruncher"}, [&] {
    switch (how) {
      case style::in_one_go:
        for (std::uint64_t i = 0; i < slices; ++i) result = crunch(result, rounds);
        break;
      case style::yielding:
        for (std::uint64_t i = 0; i < slices; ++i) {
          result = crunch(result, rounds);
          grove::this_fiber::yield();  // let the hub run every other ready fiber
        }
        break;
      case style::offloaded:
        result = grove::offload([=] {
          std::uint64_t r = 1;
          for (std::uint64_t i = 0; i < slices; ++i) r = crunch(r, rounds);
          return r;
        });
        break;
    }
  });
  cruncher.get();
  auto took = steady::now() - start;
  grove::this_fiber::sleep_for(2 * tick);  // one more tick after the work, to see its delay
  ticker.kill();
  ticker.join();
  std::printf("%-36s work took %6.0f ms; ticker: %4d ticks, worst delay %7.1f ms%s\n", title,
              ms(took), ticks, ms(worst), result == 42 ? "!" : "");
}

}  // namespace

int main(int argc, char** argv) {
  double work_ms = 500, tick_ms = 5;
  bool tour = false;
  if (int rc = sample::parse_options(
          argc, argv, usage, {{"--work-ms", &work_ms, 1, 60000}, {"--tick-ms", &tick_ms, 1, 1000}},
          {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  try {
    grove::run([&] {
      std::uint64_t rounds = rounds_per_ms();
      auto slices = static_cast<std::uint64_t>(work_ms);
      auto tick = std::chrono::milliseconds(static_cast<int>(tick_ms));
      std::printf(
          "a ticker fiber wants to run every %g ms; another fiber does ~%g ms of CPU work\n",
          tick_ms, work_ms);
      measure("1. in one go (the pitfall):", style::in_one_go, slices, rounds, tick);
      measure("2. yielding every ~1 ms slice:", style::yielding, slices, rounds, tick);
      measure("3. offloaded to the thread pool:", style::offloaded, slices, rounds, tick);
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cpu_pitfall: %s\n", e.what());
    return 1;
  }
  return 0;
}
