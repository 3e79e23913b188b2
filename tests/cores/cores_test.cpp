// Promises of <grove/cores.hpp>: a hub per thread, fn on each, indices, results, failure of one
// core stopping the others, pinning, fibers staying on their core. Suite 'threads' (TSan).
#include <grove/cores.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <grove/event.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct core_report {
  std::size_t argument;
  std::size_t index;
  std::size_t count;
  std::thread::id thread;
};

std::vector<int> cpus_of_this_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  REQUIRE(::pthread_getaffinity_np(::pthread_self(), sizeof set, &set) == 0);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace

TEST_CASE("every core runs fn once, with a distinct index, on a thread of its own") {
  std::mutex mutex;
  std::vector<core_report> reports;
  grove::run_on_cores(3, [&](std::size_t core) {
    REQUIRE(grove::hub::running());
    std::lock_guard lock(mutex);
    reports.push_back(
        {core, grove::this_core::index(), grove::this_core::count(), std::this_thread::get_id()});
  });
  REQUIRE(reports.size() == 3);
  std::set<std::size_t> indices;
  std::set<std::thread::id> threads;
  for (auto& r : reports) {
    CHECK(r.argument == r.index);
    CHECK(r.count == 3);
    indices.insert(r.index);
    threads.insert(r.thread);
    if (r.index == 0) CHECK(r.thread == std::this_thread::get_id());  // core 0: the caller
  }
  CHECK(indices == std::set<std::size_t>{0, 1, 2});
  CHECK(threads.size() == 3);
  CHECK_FALSE(grove::this_core::running());  // over: the calling thread is no core any more
  CHECK_THROWS_AS(grove::this_core::index(), grove::error);
}

TEST_CASE("results come back one per core, in core order") {
  auto results = grove::run_on_cores(4, [](std::size_t core) { return std::to_string(core * 10); });
  CHECK(results == std::vector<std::string>{"0", "10", "20", "30"});
}

TEST_CASE("zero cores means one hub per hardware thread") {
  std::atomic<std::size_t> ran{0};
  std::size_t seen_count = 0;
  grove::run_on_cores(0, [&](std::size_t core) {
    ++ran;
    if (core == 0) seen_count = grove::this_core::count();
  });
  std::size_t expected = std::max(1u, std::thread::hardware_concurrency());
  CHECK(ran == expected);
  CHECK(seen_count == expected);
}

TEST_CASE("an exception on one core kills the others and names the failing core") {
  std::atomic<int> unwound{0};
  struct count_unwind {
    std::atomic<int>& n;
    ~count_unwind() { ++n; }
  };
  std::atomic<int> entered{0};
  grove::event others_inside(grove::cross_thread);  // set on core 0 or 2, waited on core 1
  auto start = std::chrono::steady_clock::now();
  try {
    grove::run_on_cores(3, [&](std::size_t core) {
      if (core == 1) {
        // Fail once the others are inside fn (a core that has not started fn when another
        // fails never starts it).
        others_inside.wait();
        throw std::runtime_error("boom");
      }
      count_unwind guard{unwound};
      if (++entered == 2) others_inside.set();
      grove::this_fiber::sleep_for(60s);  // ended by the kill, long before
    });
    FAIL("run_on_cores returned normally");
  } catch (const grove::core_error& e) {
    CHECK(e.core() == 1);
    CHECK(std::string(e.what()).find("core 1 of 3 failed: boom") != std::string::npos);
    CHECK_THROWS_WITH_AS(e.rethrow_cause(), "boom", std::runtime_error);
  }
  CHECK(unwound == 2);  // both other cores unwound their RAII
  CHECK(std::chrono::steady_clock::now() - start < 20s);
}

TEST_CASE("the first failure wins when several cores throw") {
  try {
    grove::run_on_cores(2, [](std::size_t core) -> void {
      throw std::logic_error("core " + std::to_string(core) + " failed");
    });
    FAIL("run_on_cores returned normally");
  } catch (const grove::core_error& e) {
    CHECK(e.core() < 2);
    std::string expected = "core " + std::to_string(e.core()) + " failed";
    CHECK_THROWS_WITH_AS(e.rethrow_cause(), expected.c_str(), std::logic_error);
  }
}

TEST_CASE("this_core::hub posts work to another core's hub, which runs it on its thread") {
  grove::event arrived(grove::cross_thread);  // a hub waiting on it keeps running meanwhile
  std::thread::id ran_on, core1_thread;
  grove::run_on_cores(2, [&](std::size_t core) {
    if (core == 0) {
      CHECK(grove::this_core::hub(1).post([&] {
        ran_on = std::this_thread::get_id();
        arrived.set();
      }));
      CHECK_THROWS_AS(grove::this_core::hub(2), grove::error);
    } else {
      core1_thread = std::this_thread::get_id();
      arrived.wait();
    }
  });
  CHECK(ran_on == core1_thread);
}

TEST_CASE("fibers stay on their core: thread, thread_locals and errno survive every wait") {
  static thread_local int marker = 0;
  std::atomic<int> moved{0};
  grove::run_on_cores(2, [&](std::size_t core) {
    marker = static_cast<int>(core) + 1;
    std::vector<grove::fiber<void>> fibers;
    for (int f = 0; f < 8; ++f) {
      fibers.push_back(grove::spawn([&, core, f] {
        auto thread = std::this_thread::get_id();
        for (int i = 0; i < 200; ++i) {
          errno = f + 1;
          if (i % 2) {
            grove::this_fiber::yield();
          } else {
            grove::this_fiber::sleep_for(0ms);
          }
          if (std::this_thread::get_id() != thread || marker != static_cast<int>(core) + 1 ||
              errno != f + 1) {
            ++moved;
          }
        }
      }));
    }
    for (auto& f : fibers) f.join();
  });
  CHECK(moved == 0);
}

TEST_CASE("pinned cores run on the process's CPUs, round robin, and the caller gets its own back") {
  std::vector<int> allowed = cpus_of_this_thread();
  std::mutex mutex;
  std::vector<std::pair<std::size_t, std::vector<int>>> seen;
  grove::cores_options options;
  options.cores = 3;
  options.pin = true;
  grove::run_on_cores(options, [&](std::size_t core) {
    std::lock_guard lock(mutex);
    seen.emplace_back(core, cpus_of_this_thread());
  });
  REQUIRE(seen.size() == 3);
  for (auto& [core, cpus] : seen) {
    CHECK(cpus == std::vector<int>{allowed[core % allowed.size()]});
  }
  CHECK(cpus_of_this_thread() == allowed);
}

TEST_CASE("run_on_cores inside a hub is refused with a clear error") {
  grove::run([] {
    CHECK_THROWS_WITH_AS(grove::run_on_cores(2, [](std::size_t) {}),
                         doctest::Contains("called inside a hub"), grove::error);
  });
}
