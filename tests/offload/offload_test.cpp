// Promises of <grove/offload.hpp>: values and exceptions come back, other fibers keep running,
// kill and timeouts stop the wait at once, the pool is bounded, and no deadlock is reported.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/offload.hpp>  // first: the header is self-contained
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// Counts live instances, to prove a dropped result is destroyed exactly once.
struct counted {
  static inline std::atomic<int> live{0};
  int value;
  explicit counted(int v) : value(v) { ++live; }
  counted(const counted& o) : value(o.value) { ++live; }
  counted(counted&& o) noexcept : value(o.value) { ++live; }
  ~counted() { --live; }
};
}  // namespace

TEST_CASE("offload returns the function's value while other fibers keep running") {
  grove::run([] {
    int ticks = 0;
    auto ticker = grove::spawn([&] {
      for (;;) {
        grove::this_fiber::sleep_for(5ms);
        ++ticks;
      }
    });
    auto on_thread = grove::offload(
        [](std::string s, int n) {
          std::this_thread::sleep_for(100ms);
          return s + std::to_string(n) +
                 (std::this_thread::get_id() == std::thread::id() ? "" : "!");
        },
        std::string("grove"), 4);
    CHECK(on_thread == "grove4!");
    CHECK(ticks >= 5);
    ticker.kill();
    ticker.join();
  });
}

TEST_CASE("offload runs on another thread and supports void and move-only results") {
  grove::run([] {
    auto hub_thread = std::this_thread::get_id();
    std::thread::id pool_thread;
    grove::offload([&] { pool_thread = std::this_thread::get_id(); });
    CHECK(pool_thread != hub_thread);
    auto p = grove::offload([] { return std::make_unique<int>(7); });
    CHECK(*p == 7);
  });
}

TEST_CASE("offload rethrows the function's exception with its type") {
  grove::run([] {
    CHECK_THROWS_WITH_AS(grove::offload([]() -> int { throw std::invalid_argument("nope"); }),
                         "nope", std::invalid_argument);
  });
}

TEST_CASE("a fiber waiting only on offload is not a deadlock") {
  int v = grove::run([] {
    return grove::offload([] {
      std::this_thread::sleep_for(150ms);
      return 3;
    });
  });
  CHECK(v == 3);
}

TEST_CASE("kill stops the wait at once; the function finishes and its result is dropped") {
  std::atomic<bool> finished{false};
  grove::run([&] {
    auto f = grove::spawn([&] {
      return grove::offload([&] {
        std::this_thread::sleep_for(200ms);
        finished = true;
        return counted(1);
      });
    });
    grove::this_fiber::sleep_for(20ms);
    auto start = clock_type::now();
    f.kill();
    f.join();
    CHECK(ms_since(start) < 100);
    CHECK_THROWS_AS(f.get(), grove::killed_error);
    CHECK_FALSE(finished.load());
    grove::this_fiber::sleep_for(300ms);  // the result comes back to the hub and is dropped
    CHECK(finished.load());
    CHECK(counted::live == 0);
  });
}

TEST_CASE("a scoped timeout stops the wait with timeout_error") {
  grove::run([] {
    auto start = clock_type::now();
    CHECK_THROWS_AS(grove::with_timeout(50ms,
                                        [] {
                                          return grove::offload([] {
                                            std::this_thread::sleep_for(250ms);
                                            return 1;
                                          });
                                        }),
                    grove::timeout_error);
    CHECK(ms_since(start) < 200);
    CHECK(grove::with_timeout(
              50ms, [] { return grove::offload([] { return 5; }); }, -1) == 5);
  });
}

TEST_CASE("the pool is bounded; a queued call whose caller gave up never runs") {
  grove::run([] {
    grove::set_offload_threads(2);
    CHECK(grove::offload_threads() == 2);
    std::atomic<int> running{0}, peak{0};
    auto job = [&] {
      int now = ++running;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(60ms);
      --running;
    };
    auto start = clock_type::now();
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < 6; ++i) fibers.push_back(grove::spawn([&] { grove::offload(job); }));
    for (auto& f : fibers) f.get();
    CHECK(peak.load() == 2);
    CHECK(ms_since(start) >= 170);

    std::atomic<bool> queued_ran{false};
    auto busy1 = grove::spawn([] { grove::offload([] { std::this_thread::sleep_for(100ms); }); });
    auto busy2 = grove::spawn([] { grove::offload([] { std::this_thread::sleep_for(100ms); }); });
    auto queued = grove::spawn([&] { grove::offload([&] { queued_ran = true; }); });
    grove::this_fiber::sleep_for(20ms);
    queued.kill();
    queued.join();
    busy1.get();
    busy2.get();
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(queued_ran.load());
  });
}

TEST_CASE("the hub may end while an abandoned call still runs") {
  std::atomic<bool> finished{false};
  auto start = clock_type::now();
  grove::run([&] {
    grove::spawn([&] {
      grove::offload([&] {
        std::this_thread::sleep_for(150ms);
        finished = true;
      });
    });
    grove::this_fiber::sleep_for(10ms);  // main returns: the waiter is killed
  });
  CHECK(ms_since(start) < 100);
  while (!finished) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(10ms);  // let the thread delete the orphan and exit
}

TEST_CASE("offload outside a fiber is a clear error") {
  CHECK_THROWS_AS(grove::offload([] { return 1; }), grove::error);
}
