// What the lock shims (shims/lock.cpp) cost: a pthread_mutex_lock + pthread_mutex_unlock pair on
// an uncontended mutex through libgrove_shims (this program links it) against libc's own pair
// (found in libc.so.6 directly), interleaved in rounds so drift touches both. Measured outside
// fibers and inside a fiber. GROVE_CHECK_LOCKS is read once at load, so run it twice:
//   shims_lock_bench [--rounds N] [--calls N]                       the check off (passthrough)
//   GROVE_CHECK_LOCKS=1 shims_lock_bench [--rounds N] [--calls N]   the check on (counting)
// Prints the median and the minimum over rounds of each one's ns per pair, and their ratio.
#include <dlfcn.h>
#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <grove/grove.hpp>

#include "bench_util.hpp"

namespace {

using lock_fn = int (*)(pthread_mutex_t*);

double ns_per_pair(lock_fn lock, lock_fn unlock, pthread_mutex_t* m, long calls) {
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < calls; ++i) {
    int a = lock(m);
    int b = unlock(m);
    asm volatile("" : : "r"(a), "r"(b) : "memory");
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
             .count() /
         double(calls);
}

}  // namespace

int main(int argc, char** argv) {
  bench::rounds_calls knobs{51, 200000};
  if (int rc = bench::parse_rounds_calls(
          argc, argv, "shims_lock_bench",
          "usage: [GROVE_CHECK_LOCKS=1] shims_lock_bench [--rounds N] [--calls N]", knobs);
      rc >= 0) {
    return rc;
  }
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  auto libc_lock = libc ? reinterpret_cast<lock_fn>(dlsym(libc, "pthread_mutex_lock")) : nullptr;
  auto libc_unlock =
      libc ? reinterpret_cast<lock_fn>(dlsym(libc, "pthread_mutex_unlock")) : nullptr;
  auto shim_lock = reinterpret_cast<lock_fn>(dlsym(RTLD_DEFAULT, "pthread_mutex_lock"));
  auto shim_unlock = reinterpret_cast<lock_fn>(dlsym(RTLD_DEFAULT, "pthread_mutex_unlock"));
  if (!libc_lock || !libc_unlock || !shim_lock || libc_lock == shim_lock) {
    std::fprintf(stderr, "shims_lock_bench: the shims are not interposed on pthread_mutex_lock\n");
    return 1;
  }
  const char* check = std::getenv("GROVE_CHECK_LOCKS");
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  auto measure = [&](const char* where) {
    bench::ab_rounds r = bench::interleave(
        knobs, [&](long calls) { return ns_per_pair(shim_lock, shim_unlock, &m, calls); },
        [&](long calls) { return ns_per_pair(libc_lock, libc_unlock, &m, calls); });
    std::printf(
        "GROVE_CHECK_LOCKS=%s %-14s lock+unlock median: libc_ns=%.2f shim_ns=%.2f ratio=%.2f | "
        "min: libc_ns=%.2f shim_ns=%.2f ratio=%.2f | rounds=%d calls=%ld\n",
        check ? check : "(unset)", where, r.median_b(), r.median_a(),
        r.median_a() / r.median_b(), r.min_b(), r.min_a(), r.min_a() / r.min_b(), knobs.rounds,
        knobs.calls);
  };
  measure("outside fibers");
  grove::run([&] { measure("in a fiber"); });
}
