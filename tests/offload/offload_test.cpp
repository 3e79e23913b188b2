// Promises of <grove/offload.hpp>: values and exceptions come back, other fibers keep running,
// kill and timeouts stop the wait at once, the pool is bounded, and no deadlock is reported.
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <grove/grove.hpp>
#include <grove/offload.hpp>  // first: the header is self-contained
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../throws.hpp"

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
    CHECK(ticks >= 2);  // about 20 on an idle machine; a loaded one may stall the hub for a while
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
    std::exception_ptr error = grove_test::thrown<std::invalid_argument>(
        [] { grove::offload([]() -> int { throw std::invalid_argument("nope"); }); });
    CHECK_THROWS_WITH_AS(grove_test::rethrow(error), "nope", std::invalid_argument);
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
    // The call was not waited for: it has 180 ms to go (CHECK_FALSE(finished) below proves it).
    CHECK(ms_since(start) < 5000);
    bool killed = grove_test::throws<grove::killed_error>([&] { f.get(); });
    CHECK(killed);
    CHECK_FALSE(finished.load());
    grove::this_fiber::sleep_for(300ms);  // the result comes back to the hub and is dropped
    CHECK(finished.load());
    CHECK(counted::live == 0);
  });
}

TEST_CASE("a scoped timeout stops the wait with timeout_error") {
  grove::run([] {
    auto start = clock_type::now();
    bool timed_out = grove_test::throws<grove::timeout_error>([] {
      grove::with_timeout(50ms, [] {
        return grove::offload([] {
          std::this_thread::sleep_for(250ms);
          return 1;
        });
      });
    });
    CHECK(timed_out);
    CHECK(ms_since(start) < 200);
    int value = grove::with_timeout(
        50ms, [] { return grove::offload([] { return 5; }); }, -1);
    CHECK(value == 5);
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
  std::atomic<bool> started{false}, finished{false};
  clock_type::time_point main_returned;
  grove::run([&] {
    grove::spawn([&] {
      grove::offload([&] {
        started = true;
        std::this_thread::sleep_for(150ms);
        finished = true;
      });
    });
    // Once the call runs on its thread (a queued one would just be dropped), main returns: the
    // waiter is killed and the call abandoned. Starting a thread may take a while when loaded.
    for (int i = 0; i < 5000 && !started; ++i) grove::this_fiber::sleep_for(1ms);
    REQUIRE(started);
    main_returned = clock_type::now();
  });
  CHECK(ms_since(main_returned) < 100);  // the hub did not wait for the 150 ms call
  for (int i = 0; i < 500 && !finished; ++i) std::this_thread::sleep_for(10ms);
  CHECK(finished);
  std::this_thread::sleep_for(10ms);  // let the thread delete the orphan and exit
}

TEST_CASE("a burst of as many calls as the pool has threads runs in parallel") {
  grove::run([] {
    CHECK(grove::offload_threads() == 10);
    grove::offload([] {});  // one idle thread: the burst must not queue behind it
    for (int round = 0; round < 2; ++round) {  // the second burst finds 10 idle threads
      auto start = clock_type::now();
      std::vector<grove::fiber<void>> fibers;
      for (int i = 0; i < 10; ++i) {
        fibers.push_back(
            grove::spawn([] { grove::offload([] { std::this_thread::sleep_for(200ms); }); }));
      }
      for (auto& f : fibers) f.get();
      CHECK(ms_since(start) < 450);  // 200 ms each, in parallel; one after another: 2 s
    }
  });
}

TEST_CASE("calls that unblock one another through pipes all complete") {
  // Call k waits for a byte on pipe k, which call k+1 writes: queued one after another they
  // would deadlock (each call gives up after 5 s, so a regression fails instead of hanging).
  constexpr int n = 8;
  int pipes[n][2];
  for (auto& p : pipes) REQUIRE(::pipe(p) == 0);
  int completed = grove::run([&] {
    grove::set_offload_threads(n);
    std::vector<grove::fiber<bool>> fibers;
    for (int k = 0; k < n; ++k) {
      fibers.push_back(grove::spawn([&, k] {
        return grove::offload([&, k] {
          if (k + 1 < n) {
            pollfd p{pipes[k + 1][0], POLLIN, 0};
            if (::poll(&p, 1, 5000) != 1) return false;
          }
          char byte = 'x';
          return ::write(pipes[k][1], &byte, 1) == 1;
        });
      }));
    }
    int ok = 0;
    for (auto& f : fibers) ok += f.get() ? 1 : 0;
    return ok;
  });
  CHECK(completed == n);
  for (auto& p : pipes) {
    ::close(p[0]);
    ::close(p[1]);
  }
}

TEST_CASE("raising the pool size starts threads for calls already queued") {
  grove::run([] {
    grove::set_offload_threads(1);
    std::atomic<bool> release{false};
    auto blocker = grove::spawn([&] {
      grove::offload([&] {
        while (!release) std::this_thread::sleep_for(1ms);
      });
    });
    auto queued = grove::spawn([] { return grove::offload([] { return 9; }); });
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(queued.ready());
    grove::set_offload_threads(2);
    int value = queued.get();
    CHECK(value == 9);  // ran on a new thread while the first is still blocked
    release = true;
    blocker.get();
  });
}

TEST_CASE("GROVE_THREADPOOL_SIZE sets the pool size; a bad value is a clear error") {
  ::setenv("GROVE_THREADPOOL_SIZE", "3", 1);
  CHECK(grove::run([] { return grove::offload_threads(); }) == 3);
  ::setenv("GROVE_THREADPOOL_SIZE", "lots", 1);
  CHECK_THROWS_WITH_AS(grove::run([] { return grove::offload([] { return 1; }); }),
                       doctest::Contains("GROVE_THREADPOOL_SIZE='lots'"), grove::error);
  ::unsetenv("GROVE_THREADPOOL_SIZE");
}

TEST_CASE("a caller killed after its call finished still gets the result") {
  std::atomic<bool> returned{false};
  grove::run([&] {
    std::optional<int> got;
    auto f = grove::spawn([&] {
      got = grove::offload([&] {
        returned = true;
        return 42;
      });
      grove::this_fiber::yield();  // the kill that raced the result lands here
    });
    grove::this_fiber::yield();  // f submits its call and waits
    // Hold the hub (no grove wait) until the call has finished: its result is then posted but
    // not yet delivered, and the kill finds the call finished. The pool marks the call finished
    // right after the function returns; 100 ms is ample for that step.
    while (!returned) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(100ms);
    f.kill();
    f.join();
    CHECK(got == 42);
    bool killed = grove_test::throws<grove::killed_error>([&] { f.get(); });
    CHECK(killed);
  });
}

TEST_CASE("offload outside a fiber is a clear error") {
  bool refused = grove_test::throws<grove::error>([] { grove::offload([] { return 1; }); });
  CHECK(refused);
}
