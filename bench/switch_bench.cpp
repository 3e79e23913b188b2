// Yield ping-pong: ns per switch (one yield hands the thread to the other fiber), for the two
// pairs a program meets: two spawned fibers, and the main fiber (grove::run's) with a spawned
// one, against a raw boost::context::fiber resume ping-pong (the same loop as
// bench/peers/raw_context_switch) in the same process. The three run in interleaved rounds, so
// a round's ratio compares figures taken a moment apart: on these VMs the raw switch alone
// drifts by 10-30% from run to run (the CPU's speed and the neighbours' load), more than the
// differences we look for.
//   switch_bench [switches [rounds]]
// Prints medians over the rounds: ns_per_switch / main_ns_per_switch / raw_ns_per_switch (wall
// time), the cpu_ variants (the thread's CPU time: on a loaded machine wall time also counts
// the time other processes ran), and spawned_vs_raw / main_vs_raw: the median of the rounds'
// CPU-time ratios. On x86-64 also jump_cpu_ns_per_switch: the same ping-pong through grove's
// own jump (grove_jump_context, no floating-point control), the floor under grove's yield.
#include <time.h>

#include <boost/context/fiber.hpp>
#include <cstdio>
#include <grove/detail/context_jump.hpp>
#include <grove/grove.hpp>
#include <utility>
#include <vector>

#include "bench_util.hpp"

namespace {

double cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
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

// The peer: what bench/peers/raw_context_switch fiber measures, here on the main fiber's stack.
timing raw_fiber_pair(long n) {
  namespace ctx = boost::context;
  long round_trips = n / 2;
  ctx::fiber peer{[round_trips](ctx::fiber&& main) {
    for (long i = 0; i < round_trips; ++i) main = std::move(main).resume();
    return std::move(main);
  }};
  stopwatch watch;
  for (long i = 0; i < round_trips; ++i) peer = std::move(peer).resume();
  timing t = watch.per(n);
  peer = std::move(peer).resume();  // let the peer return, so no forced unwind is needed
  return t;
}

#ifdef GROVE_JUMP_CONTEXT  // not on other CPUs, nor in trees before grove had its own jump
#define GROVE_JUMP_FLOOR 1
// The floor under grove's yield: a ping-pong through grove_jump_context alone (what
// raw_context_switch fcontext does with jump_fcontext).
void bounce(boost::context::detail::transfer_t from) {
  for (;;) from = grove_jump_context(from.fctx, nullptr);
}

timing jump_pair(long n) {
  namespace ctx = boost::context::detail;
  static std::vector<char> stack(64 * 1024);
  ctx::fcontext_t peer = ctx::make_fcontext(stack.data() + stack.size(), stack.size(), bounce);
  stopwatch watch;
  for (long i = 0; i < n / 2; ++i) peer = grove_jump_context(peer, nullptr).fctx;
  return watch.per(n);  // the peer stays parked in bounce(); its stack is reused next round
}
#endif

struct samples {
  std::vector<double> wall, cpu;
  void add(timing t) {
    wall.push_back(t.wall_ns);
    cpu.push_back(t.cpu_ns);
  }
};

}  // namespace

int main(int argc, char** argv) {
  long switches = 20'000'000, rounds = 9;
  const char* usage =
      "usage: switch_bench [SWITCHES [ROUNDS]]   SWITCHES (default 20000000) split over ROUNDS "
      "(default 9)";
  if (int rc = bench::parse_positional(
          argc, argv, usage,
          {{"SWITCHES", switches, 2, 100'000'000'000}, {"ROUNDS", rounds, 1, 1000}});
      rc >= 0) {
    return rc;
  }
  if (switches / rounds < 2) {
    std::fprintf(stderr, "switch_bench: want at least 2 switches a round (try --help)\n");
    return 2;
  }
  long per_round = switches / rounds;
  samples spawned, with_main, raw, jump;
  std::vector<double> spawned_ratio, main_ratio;
  grove::run([&] {
    // Warm-up: stacks mapped and pooled, caches and predictors warm.
    raw_fiber_pair(per_round / 10);
#ifdef GROVE_JUMP_FLOOR
    jump_pair(per_round / 10);
#endif
    spawned_pair(per_round / 10);
    main_and_spawned(per_round / 10);
    for (long r = 0; r < rounds; ++r) {
      timing t_raw = raw_fiber_pair(per_round);
      timing t_spawned = spawned_pair(per_round);
      timing t_main = main_and_spawned(per_round);
      raw.add(t_raw);
#ifdef GROVE_JUMP_FLOOR
      jump.add(jump_pair(per_round));
#endif
      spawned.add(t_spawned);
      with_main.add(t_main);
      spawned_ratio.push_back(t_spawned.cpu_ns / t_raw.cpu_ns);
      main_ratio.push_back(t_main.cpu_ns / t_raw.cpu_ns);
    }
  });
  using bench::median;
  std::printf(
      "ns_per_switch=%.2f main_ns_per_switch=%.2f raw_ns_per_switch=%.2f "
      "cpu_ns_per_switch=%.2f main_cpu_ns_per_switch=%.2f raw_cpu_ns_per_switch=%.2f "
      "spawned_vs_raw=%.3f main_vs_raw=%.3f",
      median(spawned.wall), median(with_main.wall), median(raw.wall), median(spawned.cpu),
      median(with_main.cpu), median(raw.cpu), median(spawned_ratio), median(main_ratio));
  if (!jump.cpu.empty()) std::printf(" jump_cpu_ns_per_switch=%.2f", median(jump.cpu));
  std::printf("\n");
}
