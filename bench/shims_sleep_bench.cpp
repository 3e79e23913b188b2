// The shims' cost (issue 7), each figure beside its peer in the same run:
// - passthrough: a shimmed call outside any fiber vs libc's own function. The call is
//   clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, ...), which glibc rejects (EINVAL) without a
//   syscall, so the few nanoseconds the shim adds (the cooperation predicate and one indirect
//   call) are not buried under a kernel entry. libc's function is called through a pointer from
//   dlopen("libc.so.6"), the shimmed one as a program calls it (PLT -> libgrove_shims).
// - the same call inside a fiber (the shim sees the fiber, the clock is not one it sleeps on).
// - a zero-length nanosleep in a fiber (a yield through the hub's timer queue) vs
//   grove::this_fiber::yield(), with a second fiber doing the same.
// Prints one line of key=value tokens (bench/run_bench.sh takes medians over runs).
//   shims_sleep_bench [CALLS]   (default 20,000,000 passthrough calls per round)
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <vector>

#include "bench_util.hpp"

namespace {

using clock_nanosleep_fn = int (*)(clockid_t, int, const timespec*, timespec*);

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// ns per call of `fn` over `calls` calls.
template <class Fn>
double ns_per_call(long calls, Fn fn) {
  auto start = bench::clock_type::now();
  for (long i = 0; i < calls; ++i) fn();
  return bench::ns_since(start) / static_cast<double>(calls);
}

}  // namespace

int main(int argc, char** argv) {
  long calls = 20'000'000;
  if (int rc = bench::parse_positional(
          argc, argv,
          "usage: shims_sleep_bench [CALLS]   passthrough calls per round (default 20000000)",
          {{"CALLS", calls, 10, 10'000'000'000}});
      rc >= 0) {
    return rc;
  }
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  auto libc_call = reinterpret_cast<clock_nanosleep_fn>(dlsym(libc, "clock_nanosleep"));
  if (!libc_call || !dlopen("libgrove_shims.so.0", RTLD_NOW | RTLD_NOLOAD)) {
    std::fprintf(stderr, "shims_sleep_bench: libc's clock_nanosleep or the shims not found\n");
    return 1;
  }
  // volatile: the compiler must call each time and may not hoist anything out of the loop.
  volatile clock_nanosleep_fn via_libc = libc_call;
  const timespec one_ms{0, 1'000'000};
  int sink = 0;
  auto libc_once = [&] { sink += via_libc(CLOCK_THREAD_CPUTIME_ID, 0, &one_ms, nullptr); };
  auto shim_once = [&] { sink += clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &one_ms, nullptr); };

  ns_per_call(calls / 10, libc_once);  // warm up both paths
  ns_per_call(calls / 10, shim_once);
  std::vector<double> libc_ns, shim_ns, diff_ns;
  for (int round = 0; round < 5; ++round) {  // alternate: load drifts hit both alike
    double l = ns_per_call(calls, libc_once);
    double s = ns_per_call(calls, shim_once);
    libc_ns.push_back(l);
    shim_ns.push_back(s);
    diff_ns.push_back(s - l);
  }

  double fiber_libc = 0, fiber_shim = 0, zero_sleep = 0, plain_yield = 0;
  grove::run([&] {
    ns_per_call(calls / 10, shim_once);
    std::vector<double> l, s;
    for (int round = 0; round < 5; ++round) {
      l.push_back(ns_per_call(calls / 2, libc_once));
      s.push_back(ns_per_call(calls / 2, shim_once));
    }
    fiber_libc = median(l);
    fiber_shim = median(s);

    // With GROVE_SHIMS=0 a zero nanosleep is the kernel's (~60 us): keep that run short.
    const char* mode = std::getenv("GROVE_SHIMS");
    long yields = mode && std::strcmp(mode, "0") == 0 ? 1000 : 1'000'000;
    auto partner = [yields](bool sleep) {
      const timespec zero{0, 0};
      for (long i = 0; i < yields; ++i) {
        if (sleep) {
          nanosleep(&zero, nullptr);
        } else {
          grove::this_fiber::yield();
        }
      }
    };
    for (bool sleep : {false, true, false, true}) {
      auto start = bench::clock_type::now();
      auto a = grove::spawn(partner, sleep);
      auto b = grove::spawn(partner, sleep);
      a.join();
      b.join();
      double ns = bench::ns_since(start) / static_cast<double>(2 * yields);
      (sleep ? zero_sleep : plain_yield) = ns;  // the second round of each (warm) counts
    }
  });

  std::printf(
      "libc_ns=%.2f shim_ns=%.2f shim_overhead_ns=%.2f in_fiber_libc_ns=%.2f "
      "in_fiber_shim_ns=%.2f in_fiber_overhead_ns=%.2f zero_nanosleep_ns=%.1f yield_ns=%.1f "
      "sink=%d\n",
      median(libc_ns), median(shim_ns), median(diff_ns), fiber_libc, fiber_shim,
      fiber_shim - fiber_libc, zero_sleep, plain_yield, sink == 0 ? 0 : 1);
  return 0;
}
