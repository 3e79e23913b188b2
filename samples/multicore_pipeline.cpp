// A pipeline over every core: core 0 produces jobs into one channel that workers on every core
// receive from, and the workers send their results into a second channel that core 0 collects.
// Both channels are made with grove::cross_thread, so fibers of every hub may use them
// (include/grove/cross_thread.hpp): a fiber blocked on one is woken from whichever thread served
// it, and stays on its own core. The jobs are CPU work (counting primes in a range by
// trial division), so N cores finish them up to N times sooner; the program prints what each
// core did and checks the total against a count made on one thread.
//   multicore_pipeline [--cores N] [--jobs N] [--workers N] [--tour]
// --cores 0 means one per hardware thread; --workers is the worker fibers per core.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <grove/channel.hpp>
#include <grove/cores.hpp>
#include <grove/fiber.hpp>
#include <memory>
#include <string>
#include <vector>

#include "sample_args.hpp"

namespace {

constexpr unsigned long numbers_per_job = 20000;

struct job {
  unsigned long first;  ///< counts the primes in [first, first + numbers_per_job)
};

struct result {
  std::size_t core;
  unsigned long primes;
  double cpu_ms;
};

bool is_prime(unsigned long n) {
  if (n < 2) return false;
  for (unsigned long d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

unsigned long count_primes(unsigned long first, unsigned long count) {
  unsigned long primes = 0;
  for (unsigned long n = first; n < first + count; ++n) primes += is_prime(n);
  return primes;
}

double thread_cpu_ms() {
  timespec ts;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct core_summary {
  unsigned long jobs = 0;
  unsigned long primes = 0;
  double cpu_ms = 0;
};

/// Runs the pipeline on `cores` cores; returns the wall time in seconds and fills `per_core`.
double run_pipeline(std::size_t cores, unsigned long jobs, unsigned long workers_per_core,
                    std::vector<core_summary>& per_core) {
  grove::channel<job> work(64, grove::cross_thread);  // shared by every core's fibers
  grove::channel<result> results(64, grove::cross_thread);
  std::atomic<unsigned long> workers_left{cores * workers_per_core};
  per_core.assign(cores, {});
  auto start = std::chrono::steady_clock::now();
  grove::run_on_cores(cores, [&](std::size_t core) {
    std::vector<grove::fiber<void>> fibers;
    for (unsigned long w = 0; w < workers_per_core; ++w) {
      fibers.push_back(grove::spawn([&, core] {
        for (job j : work) {
          double before = thread_cpu_ms();
          unsigned long primes = count_primes(j.first, numbers_per_job);
          results.send({core, primes, thread_cpu_ms() - before});
          grove::this_fiber::yield();  // let the core's other fibers (the collector) run
        }
        if (--workers_left == 0) results.close();  // the last worker of all cores
      }));
    }
    if (core == 0) {
      fibers.push_back(grove::spawn([&] {
        for (unsigned long i = 0; i < jobs; ++i) work.send({i * numbers_per_job});
        work.close();
      }));
      for (result r : results) {  // only core 0 touches per_core
        auto& s = per_core[r.core];
        ++s.jobs;
        s.primes += r.primes;
        s.cpu_ms += r.cpu_ms;
      }
    }
    for (auto& f : fibers) f.join();
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void report(const char* title, double seconds, const std::vector<core_summary>& per_core,
            unsigned long expected_primes) {
  unsigned long total = 0;
  std::printf("%s: %.2f s\n", title, seconds);
  for (std::size_t core = 0; core < per_core.size(); ++core) {
    const auto& s = per_core[core];
    std::printf("  core %zu: %lu jobs, %lu primes, %.0f ms of CPU\n", core, s.jobs, s.primes,
                s.cpu_ms);
    total += s.primes;
  }
  std::printf("  total %lu primes (one thread counted %lu: %s)\n", total, expected_primes,
              total == expected_primes ? "same" : "DIFFERENT");
}

std::string usage() {
  return "usage: multicore_pipeline [--cores N] [--jobs N] [--workers N] [--tour]\n"
         "  --cores N    hubs, one thread each (default 0: one per hardware thread)\n"
         "  --jobs N     jobs of " +
         std::to_string(numbers_per_job) +
         " numbers each (default 200)\n"
         "  --workers N  worker fibers per core (default 4)\n"
         "  --tour       a shorter run, on 1 core and then on every core\n";
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long cores = 0, jobs = 200, workers = 4;
  bool tour = false;
  if (int rc = sample::parse_options(argc, argv, usage(),
                                     {{"--cores", &cores, 0, 1024},
                                      {"--jobs", &jobs, 1, 100000},
                                      {"--workers", &workers, 1, 100000}},
                                     {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  if (tour) jobs = 60;
  try {
    unsigned long expected = count_primes(0, jobs * numbers_per_job);
    std::vector<core_summary> per_core;
    std::size_t all = grove::core_count({cores, false});
    if (tour && all > 1) {
      double one = run_pipeline(1, jobs, workers, per_core);
      report("1 core", one, per_core, expected);
    }
    double seconds = run_pipeline(all, jobs, workers, per_core);
    char title[64];
    std::snprintf(title, sizeof title, "%zu core%s", all, all == 1 ? "" : "s");
    report(title, seconds, per_core, expected);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "multicore_pipeline: %s\n", e.what());
    return 1;
  }
}
