// What the lock shims (shims/lock.cpp) cost: a pthread_mutex_lock + pthread_mutex_unlock pair on
// an uncontended mutex through libgrove_shims (this program links it) against libc's own pair
// (found in libc.so.6 directly), interleaved in rounds so drift touches both. Measured outside
// fibers and inside a fiber. GROVE_CHECK_LOCKS is read once at load, so run it twice:
//   shims_lock_bench [--rounds N] [--calls N]                       the check off (passthrough)
//   GROVE_CHECK_LOCKS=1 shims_lock_bench [--rounds N] [--calls N]   the check on (counting)
// Prints the median and the minimum over rounds of each one's ns per pair, and their ratio.
#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <grove/grove.hpp>
#include <string>
#include <vector>

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

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 51;
  long calls = 200000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help") {
      std::puts("usage: [GROVE_CHECK_LOCKS=1] shims_lock_bench [--rounds N] [--calls N]");
      return 0;
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--calls" && i + 1 < argc) {
      calls = std::atol(argv[++i]);
    } else {
      std::fprintf(stderr, "shims_lock_bench: bad argument '%s' (try --help)\n", argv[i]);
      return 2;
    }
  }
  if (rounds < 1 || calls < 1) {
    std::fprintf(stderr, "shims_lock_bench: rounds and calls must be positive\n");
    return 2;
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
    ns_per_pair(shim_lock, shim_unlock, &m, calls / 10);  // warm-up: resolve, fault in
    ns_per_pair(libc_lock, libc_unlock, &m, calls / 10);
    std::vector<double> shim, base;
    for (int r = 0; r < rounds; ++r) {
      bool shim_first = r % 2 == 0;
      double a = shim_first ? ns_per_pair(shim_lock, shim_unlock, &m, calls) : 0;
      double b = ns_per_pair(libc_lock, libc_unlock, &m, calls);
      if (!shim_first) a = ns_per_pair(shim_lock, shim_unlock, &m, calls);
      shim.push_back(a);
      base.push_back(b);
    }
    double min_shim = *std::min_element(shim.begin(), shim.end());
    double min_base = *std::min_element(base.begin(), base.end());
    std::printf(
        "GROVE_CHECK_LOCKS=%s %-14s lock+unlock median: libc_ns=%.2f shim_ns=%.2f ratio=%.2f | "
        "min: libc_ns=%.2f shim_ns=%.2f ratio=%.2f | rounds=%d calls=%ld\n",
        check ? check : "(unset)", where, median(base), median(shim), median(shim) / median(base),
        min_base, min_shim, min_shim / min_base, rounds, calls);
  };
  measure("outside fibers");
  grove::run([&] { measure("in a fiber"); });
}
