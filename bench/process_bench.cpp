// grove's subprocess and offload benchmarks (issue 8). Each mode prints one line of key=value.
//   process_bench spawn N C     spawn + wait N /bin/true children, C at a time: total_ms,
//   us_per_child process_bench rss MIB K     with MIB of touched memory, K children each:
//   posix_spawn (grove)
//                               vs fork + exec: us per spawn + wait, one at a time
//   process_bench offload N     N round trips of an empty function: grove::offload vs std::async
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <grove/grove.hpp>
#include <string>
#include <vector>

#include "bench_util.hpp"

using steady = std::chrono::steady_clock;

namespace {

double us_since(steady::time_point start) {
  return std::chrono::duration<double, std::micro>(steady::now() - start).count();
}

const char* usage = "usage: process_bench spawn N C | rss MIB K | offload N";

void spawn_many(long n, long concurrency) {
  grove::run([&] {
    for (int i = 0; i < 20; ++i) grove::run_process({"/bin/true"});  // warm up
    grove::semaphore slots(static_cast<std::ptrdiff_t>(concurrency));
    grove::group workers;
    long failed = 0;
    auto start = steady::now();
    for (long i = 0; i < n; ++i) {
      slots.acquire();
      workers.spawn([&] {
        if (!grove::run_process({"/bin/true"}).success()) ++failed;
        slots.release();
      });
    }
    workers.join();
    double us = us_since(start);
    std::printf("total_ms=%.1f us_per_child=%.1f failed=%ld\n", us / 1000, us / n, failed);
  });
}

void with_large_rss(long mib, long k) {
  std::size_t bytes = static_cast<std::size_t>(mib) << 20;
  auto* memory = static_cast<char*>(
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (memory == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  std::memset(memory, 1, bytes);  // every page touched: page tables for all of it
  grove::run([&] {
    grove::run_process({"/bin/true"});
    auto start = steady::now();
    for (long i = 0; i < k; ++i) grove::run_process({"/bin/true"});
    double spawn_us = us_since(start) / k;
    start = steady::now();
    for (long i = 0; i < k; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::execl("/bin/true", "true", nullptr);
        ::_exit(127);
      }
      ::waitpid(pid, nullptr, 0);
    }
    double fork_us = us_since(start) / k;
    std::printf("rss_mib=%ld posix_spawn_us=%.1f fork_exec_us=%.1f fork_over_spawn=%.2f\n", mib,
                spawn_us, fork_us, fork_us / spawn_us);
  });
  ::munmap(memory, bytes);
}

void offload_round_trips(long n) {
  grove::run([&] {
    for (int i = 0; i < 1000; ++i) grove::offload([] {});
    auto start = steady::now();
    for (long i = 0; i < n; ++i) grove::offload([] {});
    double offload_ns = us_since(start) * 1000 / n;
    for (int i = 0; i < 1000; ++i) std::async(std::launch::async, [] {}).get();
    start = steady::now();
    for (long i = 0; i < n; ++i) std::async(std::launch::async, [] {}).get();
    double async_ns = us_since(start) * 1000 / n;
    std::printf("offload_ns=%.0f std_async_ns=%.0f async_over_offload=%.2f\n", offload_ns, async_ns,
                async_ns / offload_ns);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string what;
  // The mode first (argv[1] alone), then that mode's numbers (argv[2..], all required).
  if (int rc = bench::parse_positional(std::min(argc, 2), argv, usage,
                                       {{"MODE", what, "spawn|rss|offload"}}, 1);
      rc >= 0) {
    return rc;
  }
  long a = 0, b = 0;
  if (what == "spawn") {
    if (int rc = bench::parse_positional(argc, argv, usage,
                                         {{"N", a, 1, 10'000'000}, {"C", b, 1, 100'000}}, 2, 2);
        rc >= 0) {
      return rc;
    }
    spawn_many(a, b);
  } else if (what == "rss") {
    if (int rc = bench::parse_positional(argc, argv, usage,
                                         {{"MIB", a, 1, 1 << 20}, {"K", b, 1, 100'000}}, 2, 2);
        rc >= 0) {
      return rc;
    }
    with_large_rss(a, b);
  } else {
    if (int rc = bench::parse_positional(argc, argv, usage, {{"N", a, 1, 1'000'000'000}}, 1, 2);
        rc >= 0) {
      return rc;
    }
    offload_round_trips(a);
  }
  return 0;
}
