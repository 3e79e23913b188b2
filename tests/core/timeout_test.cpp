// Promises of <grove/timeout.hpp>: scoped timeouts, nesting, with_timeout.
#include <grove/timeout.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}
}  // namespace

TEST_CASE("a wait past the scope's deadline throws timeout_error") {
  grove::run([] {
    auto start = clock_type::now();
    grove::timeout t(50ms);
    try {
      grove::this_fiber::sleep_for(10s);
      FAIL("the sleep should have been interrupted");
    } catch (const grove::timeout_error& e) {
      CHECK(e.from(t));
      CHECK(t.expired());
      CHECK(std::string(e.what()).find("50 ms") != std::string::npos);
    }
    CHECK(ms_since(start) >= 49);
    CHECK(ms_since(start) < 1000);
  });
}

TEST_CASE("a scope that exits in time cancels its timer") {
  // No clock to race (a 30 ms deadline against a 5 ms sleep failed under ASan at high load): the
  // deadline is far off, and the scope's end must leave no timer behind. With nothing left that
  // could wake it, a wait is then reported as a deadlock at once; a timer left armed would keep
  // the hub waiting for it (and fire into a scope that is gone).
  grove::run([] {
    {
      grove::timeout t(20s);
      grove::this_fiber::sleep_for(1ms);
      CHECK_FALSE(t.expired());
    }
    grove::event never_set;
    std::exception_ptr error = grove_test::thrown<grove::error>([&] { never_set.wait(); });
    CHECK_THROWS_WITH_AS(grove_test::rethrow(error), doctest::Contains("deadlock"), grove::error);
    CHECK(grove::hub::current().fiber_count() == 1);
  });
}

TEST_CASE("every suspension in an expired scope throws, until the scope ends") {
  grove::run([] {
    grove::timeout t(10ms);
    bool timed_out =
        grove_test::throws<grove::timeout_error>([] { grove::this_fiber::sleep_for(1s); });
    CHECK(timed_out);
    timed_out = grove_test::throws<grove::timeout_error>([] { grove::this_fiber::yield(); });
    CHECK(timed_out);
  });
}

TEST_CASE("nested timeouts: the inner one expires and is reported as itself") {
  grove::run([] {
    grove::timeout outer(1s);
    grove::timeout inner(20ms);
    try {
      grove::this_fiber::sleep_for(5s);
    } catch (const grove::timeout_error& e) {
      CHECK(e.from(inner));
      CHECK_FALSE(e.from(outer));
      CHECK_FALSE(outer.expired());
    }
  });
}

TEST_CASE("nested timeouts: an outer expiry is never mistaken for the inner one") {
  grove::run([] {
    grove::timeout outer(20ms);
    bool inner_handler_ran = false;
    try {
      grove::timeout inner(5s);
      try {
        grove::this_fiber::sleep_for(5s);
      } catch (const grove::timeout_error& e) {
        if (!e.from(inner)) throw;  // not ours
        inner_handler_ran = true;
      }
    } catch (const grove::timeout_error& e) {
      CHECK(e.from(outer));
    }
    CHECK_FALSE(inner_handler_ran);
  });
}

TEST_CASE("with_timeout returns the value in time, throws or falls back on expiry") {
  grove::run([] {
    CHECK(grove::with_timeout(1s, [] { return 7; }) == 7);
    bool timed_out = grove_test::throws<grove::timeout_error>([] {
      grove::with_timeout(10ms, [] {
        grove::this_fiber::sleep_for(5s);
        return 1;
      });
    });
    CHECK(timed_out);
    int v = grove::with_timeout(
        10ms,
        [] {
          grove::this_fiber::sleep_for(5s);
          return 1;
        },
        -1);
    CHECK(v == -1);
  });
}

TEST_CASE("with_timeout's fallback does not hide an outer timeout") {
  grove::run([] {
    grove::timeout outer(10ms);
    bool timed_out = grove_test::throws<grove::timeout_error>([] {
      grove::with_timeout(
          5s,
          [] {
            grove::this_fiber::sleep_for(5s);
            return 1;
          },
          -1);
    });
    CHECK(timed_out);
  });
}

TEST_CASE("kill while inside a timeout scope unwinds and cancels the scope") {
  grove::run([] {
    bool timed_out = false;
    auto f = grove::spawn([&] {
      grove::timeout t(5s);
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::timeout_error&) {
        timed_out = true;
      }
    });
    grove::this_fiber::yield();
    f.kill();
    f.join();
    CHECK_FALSE(timed_out);
    bool killed = grove_test::throws<grove::killed_error>([&] { f.get(); });
    CHECK(killed);
  });
}

TEST_CASE("a timeout in one fiber does not disturb another") {
  grove::run([] {
    auto calm = grove::spawn([] {
      grove::this_fiber::sleep_for(60ms);
      return true;
    });
    auto hurried = grove::spawn([] {
      grove::timeout t(10ms);
      grove::this_fiber::sleep_for(5s);
    });
    bool timed_out = grove_test::throws<grove::timeout_error>([&] { hurried.get(); });
    CHECK(timed_out);
    bool calm_result = calm.get();
    CHECK(calm_result);
  });
}

TEST_CASE("a timeout outside a fiber is a clear error") {
  CHECK_THROWS_AS(grove::timeout(1s), grove::error);
}

TEST_CASE("timeout scopes may end out of order (an optional<timeout> reset early)") {
  grove::run([] {
    std::optional<grove::timeout> outer;
    outer.emplace(5s);
    grove::timeout step(20ms);
    outer.reset();  // ends before the inner scope
    try {
      grove::this_fiber::sleep_for(5s);
      FAIL("the step timeout should have fired");
    } catch (const grove::timeout_error& e) {
      CHECK(e.from(step));
    }
  });
}

TEST_CASE("a timeout that expires while its fiber is ready lands at the next wait") {
  grove::run([] {
    grove::timeout t(10ms);
    auto until = clock_type::now() + 30ms;
    while (clock_type::now() < until) {
    }  // busy: the timer cannot fire while this fiber holds the thread
    CHECK_FALSE(t.expired());
    bool timed_out =
        grove_test::throws<grove::timeout_error>([] { grove::this_fiber::sleep_for(5s); });
    CHECK(timed_out);
    CHECK(t.expired());
  });
}

TEST_CASE("timers that fire after a wait was served, before its fiber resumed, take nothing") {
  grove::run([] {
    grove::queue<int> q;
    bool scoped_got = false, scoped_expired_on_return = false, scoped_raised_next = false;
    bool deadline_got = false;
    auto scoped = grove::spawn([&] {
      grove::timeout t(100ms);
      scoped_got = q.get() == 1;
      scoped_expired_on_return = t.expired();  // expired while this fiber was ready
      try {
        grove::this_fiber::sleep_for(5s);
      } catch (const grove::timeout_error&) {
        scoped_raised_next = true;  // the expiry lands at the next wait
      }
    });
    auto own_deadline = grove::spawn([&] { deadline_got = q.get_for(100ms) == 2; });
    // Enough ready fibers ahead of them that the hub polls its timers (every 256 switches)
    // before they resume: woken ones (a fiber never started may wait behind a woken one).
    grove::event go;
    std::vector<grove::fiber<void>> ahead;
    for (int i = 0; i < 600; ++i) ahead.push_back(grove::spawn([&go] { go.wait(); }));
    grove::this_fiber::yield();  // all start and wait; the two get() timers run from now
    go.set();
    q.put(1);  // served: ready, behind the 600
    q.put(2);
    auto until = clock_type::now() + 150ms;
    while (clock_type::now() < until) {
    }  // both timers are due before anyone else runs, however loaded the machine
    scoped.join();
    own_deadline.join();
    CHECK(scoped_got);
    CHECK(scoped_expired_on_return);
    CHECK(scoped_raised_next);
    CHECK(deadline_got);
    CHECK(q.empty());
  });
}
