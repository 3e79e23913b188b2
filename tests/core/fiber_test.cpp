// Promises of <grove/fiber.hpp>: spawn, join, get, kill, ids and names, yield and sleep.
#include <grove/fiber.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

// Counts destructions, to prove a killed fiber unwinds its RAII objects.
struct destruction_counter {
  int* count;
  ~destruction_counter() { ++*count; }
};
}  // namespace

TEST_CASE("run returns the main fiber's value") {
  CHECK(grove::run([] { return 42; }) == 42);
  CHECK(grove::run([] { return std::string("grove"); }) == "grove");
}

TEST_CASE("run rethrows the main fiber's exception") {
  CHECK_THROWS_WITH_AS(grove::run([]() -> int { throw std::runtime_error("boom"); }), "boom",
                       std::runtime_error);
}

TEST_CASE("run inside a running hub is a clear error") {
  grove::run([] {
    CHECK_THROWS_AS(grove::run([] { return 1; }), grove::error);
  });
}

TEST_CASE("spawn runs a function with arguments and get returns its value") {
  int r = grove::run([] {
    auto f = grove::spawn([](int a, int b) { return a + b; }, 2, 3);
    CHECK(f.valid());
    CHECK_FALSE(f.ready());
    return f.get();
  });
  CHECK(r == 5);
}

TEST_CASE("get rethrows the fiber's exception, every time") {
  grove::run([] {
    auto f = grove::spawn([]() -> int { throw std::logic_error("bad"); });
    std::exception_ptr error = grove_test::thrown<std::logic_error>([&] { f.get(); });
    CHECK_THROWS_WITH_AS(grove_test::rethrow(error), "bad", std::logic_error);
    bool threw_again = grove_test::throws<std::logic_error>([&] { f.get(); });
    CHECK(threw_again);
    CHECK(f.ready());
  });
}

TEST_CASE("spawn options set the name; ids are unique") {
  grove::run([] {
    auto a = grove::spawn({.name = "worker", .stack_size = 64 * 1024},
                          [] { return std::string(grove::this_fiber::name()); });
    auto b = grove::spawn([] { return grove::this_fiber::id(); });
    CHECK(a.name() == "worker");
    std::string a_name = a.get();
    CHECK(a_name == "worker");
    auto b_id = b.get();
    CHECK(b_id == b.id());
    CHECK(a.id() != b.id());
    CHECK(grove::this_fiber::name() == "main");
  });
}

TEST_CASE("spawn from a fiber and from a callback") {
  grove::run([] {
    std::vector<int> order;
    auto outer = grove::spawn([&] {
      auto inner = grove::spawn([&] { order.push_back(2); });
      order.push_back(1);
      inner.join();
      order.push_back(3);
    });
    outer.join();
    CHECK(order == std::vector<int>{1, 2, 3});

    grove::fiber<int> from_callback;
    grove::call_soon([&] { from_callback = grove::spawn([] { return 7; }); });
    grove::this_fiber::yield();  // alone in the ready queue: the hub runs its callbacks
    REQUIRE(from_callback.valid());
    int value = from_callback.get();
    CHECK(value == 7);
  });
}

TEST_CASE("two 300 ms sleeps in two fibers overlap") {
  auto start = clock_type::now();
  grove::run([] {
    auto a = grove::spawn([] { grove::this_fiber::sleep_for(300ms); });
    auto b = grove::spawn([] { grove::this_fiber::sleep_for(300ms); });
    a.join();
    b.join();
  });
  double elapsed = ms_since(start);
  CHECK(elapsed >= 295);
  CHECK(elapsed < 450);
}

TEST_CASE("sleep_until wakes at the time point and sleeps wake in deadline order") {
  grove::run([] {
    std::vector<int> order;
    auto now = clock_type::now();
    auto late = grove::spawn([&] {
      grove::this_fiber::sleep_until(now + 60ms);
      order.push_back(2);
    });
    auto early = grove::spawn([&] {
      grove::this_fiber::sleep_until(now + 20ms);
      order.push_back(1);
    });
    late.join();
    early.join();
    CHECK(order == std::vector<int>{1, 2});
    CHECK(ms_since(now) >= 59);
  });
}

TEST_CASE("sleep_for(0) and yield let every other ready fiber run first") {
  for (bool use_yield : {false, true}) {
    grove::run([use_yield] {
      std::vector<int> order;
      std::vector<grove::fiber<void>> fibers;
      for (int i = 0; i < 3; ++i) {
        fibers.push_back(grove::spawn([&order, i, use_yield] {
          order.push_back(i);
          if (use_yield) {
            grove::this_fiber::yield();
          } else {
            grove::this_fiber::sleep_for(0ms);
          }
          order.push_back(10 + i);
        }));
      }
      for (auto& f : fibers) f.join();
      CHECK(order == std::vector<int>{0, 1, 2, 10, 11, 12});
    });
  }
}

TEST_CASE("kill of a sleeping fiber unwinds it with RAII and join returns") {
  grove::run([] {
    int destroyed = 0;
    bool reached_end = false;
    auto start = clock_type::now();
    auto f = grove::spawn([&] {
      destruction_counter guard{&destroyed};
      grove::this_fiber::sleep_for(10s);
      reached_end = true;
    });
    grove::this_fiber::yield();  // let it start sleeping
    f.kill();
    f.join();
    CHECK(destroyed == 1);
    CHECK_FALSE(reached_end);
    CHECK(f.ready());
    CHECK(ms_since(start) < 1000);
    bool killed = grove_test::throws<grove::killed_error>([&] { f.get(); });
    CHECK(killed);
    f.kill();  // killing a finished fiber is a no-op
  });
}

TEST_CASE("kill of a fiber that has not started means it never runs") {
  grove::run([] {
    bool ran = false;
    auto f = grove::spawn([&] { ran = true; });
    f.kill();
    f.join();
    CHECK_FALSE(ran);
    auto start = clock_type::now();
    auto later = grove::spawn_later(5s, [&] { ran = true; });
    later.kill();
    later.join();  // ends at its next turn, not after the delay
    CHECK(later.ready());
    CHECK(ms_since(start) < 1000);
    CHECK_FALSE(ran);
  });
}

TEST_CASE("kill of a ready fiber lands at its next suspension point") {
  grove::run([] {
    int steps = 0;
    auto f = grove::spawn([&] {
      ++steps;
      grove::this_fiber::yield();  // killed while in the ready queue: raised on return
      ++steps;
    });
    grove::this_fiber::yield();  // f runs its first step and yields
    f.kill();
    f.join();
    CHECK(steps == 1);
  });
}

TEST_CASE("a killed fiber may still wait while unwinding (cleanup in destructors)") {
  grove::run([] {
    bool cleaned = false;
    struct slow_cleanup {
      bool* done;
      ~slow_cleanup() {
        grove::this_fiber::sleep_for(10ms);  // waits normally during unwinding
        *done = true;
      }
    };
    auto f = grove::spawn([&] {
      slow_cleanup c{&cleaned};
      grove::this_fiber::sleep_for(10s);
    });
    grove::this_fiber::yield();
    f.kill();
    f.join();
    CHECK(cleaned);
  });
}

TEST_CASE("fiber_killed is not a std::exception, so generic handlers do not swallow it") {
  grove::run([] {
    bool swallowed = false;
    auto f = grove::spawn([&] {
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const std::exception&) {
        swallowed = true;
      }
    });
    grove::this_fiber::yield();
    f.kill();
    f.join();
    CHECK_FALSE(swallowed);
  });
}

TEST_CASE("spawn_later starts the fiber after the delay") {
  grove::run([] {
    auto start = clock_type::now();
    auto f = grove::spawn_later(50ms, [&] { return ms_since(start); });
    double started_after_ms = f.get();
    CHECK(started_after_ms >= 49);
  });
}

TEST_CASE("join_for returns false while the fiber is still running") {
  grove::run([] {
    auto f = grove::spawn([] { grove::this_fiber::sleep_for(200ms); });
    bool joined = f.join_for(20ms);
    CHECK_FALSE(joined);
    joined = f.join_for(2s);
    CHECK(joined);
  });
}

TEST_CASE("a fiber joining itself is an error, not a hang") {
  grove::run([] {
    grove::fiber<void> self;
    self = grove::spawn([&] {
      bool refused = grove_test::throws<grove::error>([&] { self.join(); });
      CHECK(refused);
    });
    self.join();
  });
}

TEST_CASE("100k fibers spawned and joined") {
  constexpr int n = 100000;
  long long sum = grove::run([] {
    std::vector<grove::fiber<int>> fibers;
    fibers.reserve(n);
    for (int i = 0; i < n; ++i) fibers.push_back(grove::spawn([i] { return i % 7; }));
    long long total = 0;
    for (auto& f : fibers) total += f.get();
    return total;
  });
  long long expected = 0;
  for (int i = 0; i < n; ++i) expected += i % 7;
  CHECK(sum == expected);
}

TEST_CASE("10k fibers sleeping at once all wake") {
  grove::run([] {
    constexpr int n = 10000;
    int woke = 0;
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < n; ++i) {
      fibers.push_back(grove::spawn({.stack_size = 32 * 1024}, [&woke, i] {
        grove::this_fiber::sleep_for(std::chrono::milliseconds(i % 50));
        ++woke;
      }));
    }
    for (auto& f : fibers) f.join();
    CHECK(woke == n);
  });
}

TEST_CASE("fibers still running when main returns are killed and unwound") {
  int destroyed = 0;
  auto start = clock_type::now();
  grove::run([&] {
    for (int i = 0; i < 3; ++i) {
      grove::spawn([&] {
        destruction_counter guard{&destroyed};
        grove::this_fiber::sleep_for(10s);
      });
    }
    grove::this_fiber::yield();
  });
  CHECK(destroyed == 3);
  CHECK(ms_since(start) < 1000);
}

TEST_CASE("a fiber suspended inside a catch block keeps its own exception state") {
  grove::run([] {
    auto catcher = [](int tag) {
      try {
        throw tag;
      } catch (int caught) {
        grove::this_fiber::sleep_for(5ms);  // other fibers throw and catch meanwhile
        CHECK(std::uncaught_exceptions() == 0);
        try {
          throw;  // rethrows *this* fiber's exception, not another's
        } catch (int again) {
          return again == caught;
        }
      }
    };
    auto a = grove::spawn(catcher, 1);
    auto b = grove::spawn(catcher, 2);
    bool a_rethrew_its_own = a.get();
    CHECK(a_rethrew_its_own);
    bool b_rethrew_its_own = b.get();
    CHECK(b_rethrew_its_own);
  });
}

TEST_CASE("a fiber yielding while it unwinds keeps its uncaught count and others see none") {
  // Each context keeps the thread's exception state on its own stack across a switch.
  grove::run([] {
    int seen_while_unwinding = -1;
    auto unwinder = grove::spawn([&] {
      struct yields_in_destructor {
        int* seen;
        ~yields_in_destructor() {
          grove::this_fiber::yield();
          grove::this_fiber::yield();
          *seen = std::uncaught_exceptions();
        }
      };
      try {
        yields_in_destructor d{&seen_while_unwinding};
        throw 1;
      } catch (int) {
      }
      CHECK(std::uncaught_exceptions() == 0);
    });
    auto bystander = grove::spawn([] {
      for (int i = 0; i < 4; ++i) {
        CHECK(std::uncaught_exceptions() == 0);
        grove::this_fiber::yield();
      }
    });
    unwinder.join();
    bystander.join();
    CHECK(seen_while_unwinding == 1);
  });
}

TEST_CASE("a fiber yielding outside any catch block never sees the exception of one inside") {
  // Only a context with an exception caught or in flight keeps it across a switch; every jump
  // leaves the thread's exception state empty for the next context (hub_core::exception_state).
  grove::run([] {
    int plain_checks = 0;
    int catcher_checks = 0;
    auto plain = grove::spawn([&] {
      for (int i = 0; i < 4; ++i) {
        CHECK(!std::current_exception());
        CHECK(std::uncaught_exceptions() == 0);
        ++plain_checks;
        grove::this_fiber::yield();
      }
    });
    auto catcher = grove::spawn([&] {
      try {
        throw 3;
      } catch (int) {
        for (int i = 0; i < 4; ++i) {
          grove::this_fiber::yield();
          CHECK(std::current_exception() != nullptr);
          ++catcher_checks;
        }
      }
      CHECK(!std::current_exception());
    });
    for (int i = 0; i < 4; ++i) {
      grove::this_fiber::yield();
      CHECK(!std::current_exception());
    }
    plain.join();
    catcher.join();
    CHECK(plain_checks == 4);
    CHECK(catcher_checks == 4);
  });
}

TEST_CASE("the floating-point rounding mode belongs to the thread, not to the fiber") {
  // Documented behaviour (README, "The floating-point control belongs to the thread"): the
  // switch does not save MXCSR, so a mode set before a yield is what the next fiber runs with.
  int before = -1;
  int after = -1;
  grove::run([&] {
    auto other = grove::spawn([&] {
      before = std::fegetround();
      grove::this_fiber::yield();  // the main fiber changes the mode meanwhile
      after = std::fegetround();
    });
    grove::this_fiber::yield();  // `other` runs up to its yield
    std::fesetround(FE_UPWARD);
    grove::this_fiber::yield();
    std::fesetround(FE_TONEAREST);
    other.join();
  });
  CHECK(before == FE_TONEAREST);
  CHECK(after == FE_UPWARD);
  CHECK(std::fegetround() == FE_TONEAREST);
}

TEST_CASE("yields between the main fiber and spawned ones alternate and keep exception state") {
  // this_fiber::yield switches inline from its caller's frame: exercise it between different
  // call sites, inside catch blocks, and with a kill arriving while the yielder is away.
  grove::run([] {
    std::vector<int> order;
    auto other = grove::spawn([&order] {
      try {
        throw 7;
      } catch (int seven) {
        for (int i = 0; i < 3; ++i) {
          order.push_back(100 + i);
          grove::this_fiber::yield();
        }
        CHECK(std::uncaught_exceptions() == 0);
        try {
          throw;
        } catch (int again) {
          CHECK(again == seven);
        }
      }
    });
    try {
      throw std::string("main's");
    } catch (const std::string& mine) {
      for (int i = 0; i < 3; ++i) {
        grove::this_fiber::yield();
        order.push_back(i);
      }
      try {
        throw;
      } catch (const std::string& again) {
        CHECK(again == "main's");
      }
    }
    other.join();
    CHECK(order == std::vector<int>{100, 0, 101, 1, 102, 2});

    bool unwound = false;
    auto victim = grove::spawn([&unwound] {
      struct mark {
        bool& flag;
        ~mark() { flag = true; }
      } m{unwound};
      for (;;) grove::this_fiber::yield();
    });
    grove::this_fiber::yield();
    victim.kill();  // pending while the victim sits in yield: raised when it comes back
    victim.join();
    CHECK(unwound);
  });
}

TEST_CASE("waiting outside a fiber is a clear error") {
  bool refused = grove_test::throws<grove::error>([] { grove::this_fiber::sleep_for(1ms); });
  CHECK(refused);
  refused = grove_test::throws<grove::error>([] { grove::this_fiber::yield(); });
  CHECK(refused);
  CHECK_THROWS_AS(grove::spawn([] {}), grove::error);
}

TEST_CASE("a deadlock is reported to the main fiber instead of hanging") {
  CHECK_THROWS_WITH_AS(grove::run([] {
                         auto f = grove::spawn([] {
                           grove::detail::wait_queue nobody_notifies;
                           nobody_notifies.wait();
                         });
                         f.join();
                       }),
                       doctest::Contains("deadlock"), grove::error);
}

TEST_CASE("a fiber killed before it starts releases what its function captured at once") {
  grove::run([] {
    auto resource = std::make_shared<int>(1);
    std::weak_ptr<int> watch = resource;
    auto f = grove::spawn([r = std::move(resource)] { return *r; });
    f.kill();
    f.join();  // the handle is still held: the block lives, its callable must not
    CHECK(watch.expired());
    bool killed = grove_test::throws<grove::killed_error>([&] { f.get(); });
    CHECK(killed);
  });
}

namespace {
// A capture whose destructor waits: legal only in fiber context.
struct waits_on_destroy {
  std::uint64_t* destroyed_in;
  waits_on_destroy(std::uint64_t* where) : destroyed_in(where) {}
  waits_on_destroy(waits_on_destroy&& other) noexcept : destroyed_in(other.destroyed_in) {
    other.destroyed_in = nullptr;
  }
  ~waits_on_destroy() {
    if (!destroyed_in) return;
    grove::this_fiber::sleep_for(1ms);
    *destroyed_in = grove::this_fiber::id();
  }
};
}  // namespace

TEST_CASE("a fiber killed before it starts destroys its captures on its own stack") {
  grove::run([] {
    std::uint64_t destroyed_in = 0;
    std::uint64_t id = 0;
    {
      auto f = grove::spawn([w = waits_on_destroy(&destroyed_in)] {});
      id = f.id();
      f.kill();
      f.join();
    }
    CHECK(destroyed_in == id);
  });
}

TEST_CASE("a detached fiber's result is destroyed on its own stack") {
  grove::run([] {
    std::uint64_t destroyed_in = 0;
    std::uint64_t id = 0;
    {
      auto f = grove::spawn([&] { return waits_on_destroy(&destroyed_in); });
      id = f.id();
    }  // detached before it runs
    grove::this_fiber::sleep_for(20ms);
    CHECK(destroyed_in == id);
  });
}

TEST_CASE("a shield defers a kill until the shielded wait is done") {
  grove::run([] {
    bool cleanup_finished = false;
    struct join_guard {
      bool* done;
      ~join_guard() {
        grove::this_fiber::shield s;  // a kill landing here must not throw out of a destructor
        grove::this_fiber::sleep_for(30ms);
        *done = true;
      }
    };
    auto f = grove::spawn([&] {
      { join_guard g{&cleanup_finished}; }
      grove::this_fiber::sleep_for(10s);  // the deferred kill lands here
    });
    grove::this_fiber::sleep_for(5ms);  // f is inside ~join_guard's wait
    f.kill();
    f.join();
    CHECK(cleanup_finished);
    bool killed = grove_test::throws<grove::killed_error>([&] { f.get(); });
    CHECK(killed);
  });
}

TEST_CASE("spawn_later during shutdown does not hold grove::run for its delay") {
  auto start = clock_type::now();
  grove::run([] {
    struct spawns_on_exit {
      ~spawns_on_exit() { grove::spawn_later(3s, [] {}); }
    };
    grove::spawn([] {
      spawns_on_exit s;
      grove::this_fiber::sleep_for(10s);
    });
    grove::this_fiber::yield();
  });
  CHECK(ms_since(start) < 1000);
}

TEST_CASE("fibers stuck while unwinding at the end of run are abandoned, not freed") {
  // The wait queue outlives run(): a freed stack would be written through when it is destroyed.
  grove::detail::wait_queue never_notified;
  std::uint64_t stuck_id = 0;
  auto start = clock_type::now();
  grove::run([&] {
    struct waits_forever {
      grove::detail::wait_queue* q;
      ~waits_forever() { q->wait(); }  // unwinding: shielded, and nothing ever notifies
    };
    auto f = grove::spawn({.name = "stuck"}, [&] {
      waits_forever w{&never_notified};
      grove::this_fiber::sleep_for(10s);
    });
    stuck_id = f.id();
    grove::this_fiber::yield();
  });
  CHECK(stuck_id != 0);
  CHECK(ms_since(start) < 1000);
}

TEST_CASE("forever durations stay forever instead of overflowing") {
  grove::run([] {
    auto sleeper = grove::spawn([] { grove::this_fiber::sleep_for(std::chrono::hours::max()); });
    bool fired = false;
    auto h = grove::call_later(std::chrono::nanoseconds::max(), [&] { fired = true; });
    {
      grove::timeout t(std::chrono::hours::max());
      grove::this_fiber::sleep_for(20ms);
      CHECK_FALSE(t.expired());
    }
    bool joined = sleeper.join_for(std::chrono::milliseconds(10));
    CHECK_FALSE(joined);
    CHECK_FALSE(fired);
    CHECK(h.pending());
    sleeper.kill();
    sleeper.join();
  });
}

TEST_CASE("a handle dropped by another fiber while someone joins it keeps the block alive") {
  grove::run([] {
    auto shared = std::make_shared<grove::fiber<int>>(grove::spawn([] {
      grove::this_fiber::sleep_for(20ms);
      return 5;
    }));
    auto joiner = grove::spawn([shared] {
      shared->join();
      return shared->ready();
    });
    grove::this_fiber::yield();  // joiner waits inside join()
    shared->operator=({});       // drop the handle the joiner is using
    bool saw_ready = joiner.get();
    CHECK(saw_ready == false);  // it was reset: ready() on an empty handle is false
  });
}

TEST_CASE("an empty handle is a clear error, not a crash") {
  grove::run([] {
    grove::fiber<int> empty;
    CHECK_FALSE(empty.valid());
    CHECK_FALSE(empty.ready());
    CHECK(empty.id() == 0);
    bool refused = grove_test::throws<grove::error>([&] { empty.join(); });
    CHECK(refused);
    refused = grove_test::throws<grove::error>([&] { empty.get(); });
    CHECK(refused);
  });
}

TEST_CASE("a fiber killing itself runs on until its next wait, then unwinds with RAII") {
  grove::run([] {
    int destroyed = 0;
    bool ran_on = false, reached_after_wait = false;
    grove::fiber<void> self;
    self = grove::spawn([&] {
      destruction_counter guard{&destroyed};
      self.kill();
      ran_on = true;  // a kill lands at a suspension point, not in the middle of code
      grove::this_fiber::sleep_for(10s);
      reached_after_wait = true;
    });
    auto start = clock_type::now();
    self.join();
    CHECK(ms_since(start) < 1000);
    CHECK(ran_on);
    CHECK_FALSE(reached_after_wait);
    CHECK(destroyed == 1);
    bool killed = grove_test::throws<grove::killed_error>([&] { self.get(); });
    CHECK(killed);
  });
}

TEST_CASE("killing the main fiber unwinds it and the others; run throws killed_error") {
  int destroyed = 0;
  bool helper_finished = false;
  CHECK_THROWS_AS(grove::run([&] {
                    destruction_counter guard{&destroyed};
                    grove::detail::fiber_base* main = grove::detail::current_fiber();
                    auto bystander = grove::spawn([&] {
                      destruction_counter other{&destroyed};
                      grove::this_fiber::sleep_for(10s);
                    });
                    grove::spawn([main, &helper_finished] {
                      grove::detail::kill(main);
                      helper_finished = true;
                    });
                    grove::this_fiber::sleep_for(10s);
                    FAIL("the main fiber's wait was not ended by the kill");
                  }),
                  grove::killed_error);
  CHECK(destroyed == 2);
  CHECK(helper_finished);
}

TEST_CASE("kill of a fiber blocked in join ends the join; the joined fiber runs on") {
  grove::run([] {
    grove::event release;
    auto target = grove::spawn([&] {
      release.wait();
      return 7;
    });
    auto joiner = grove::spawn([&] { target.join(); });
    grove::this_fiber::sleep_for(10ms);
    REQUIRE_FALSE(joiner.ready());
    joiner.kill();
    joiner.join();
    bool killed = grove_test::throws<grove::killed_error>([&] { joiner.get(); });
    CHECK(killed);
    CHECK_FALSE(target.ready());
    release.set();
    int value = target.get();
    CHECK(value == 7);
  });
}

TEST_CASE("a woken fiber runs before fibers spawned long before that have not started") {
  // spawn promises "soon": a fiber that wakes waits behind a bounded number of starts, not
  // behind every fiber spawned before it (a million sleepers would all be alive at once).
  // Starts keep their spawn order, and a yield still runs every fiber spawned before it.
  grove::run([] {
    constexpr int count = 5000;
    std::vector<int> order;
    grove::event go;
    auto woken = grove::spawn([&] {
      go.wait();
      order.push_back(-1);
    });
    grove::this_fiber::yield();  // it waits
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < count; ++i)
      fibers.push_back(grove::spawn([&order, i] { order.push_back(i); }));
    go.set();
    woken.join();
    // It ran after a few starts, not after all of them.
    CHECK(std::find(order.begin(), order.end(), -1) - order.begin() < count / 10);
    for (auto& f : fibers) f.join();
    REQUIRE(order.size() == count + 1);
    std::vector<int> starts;
    for (int v : order) {
      if (v >= 0) starts.push_back(v);
    }
    bool in_spawn_order = true;
    for (int i = 0; i < count; ++i) in_spawn_order = in_spawn_order && starts[i] == i;
    CHECK(in_spawn_order);
  });
}

TEST_CASE("a yield runs every fiber spawned before it, however many") {
  grove::run([] {
    constexpr int count = 5000;
    int started = 0;
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < count; ++i) fibers.push_back(grove::spawn([&started] { ++started; }));
    grove::this_fiber::yield();
    CHECK(started == count);
    for (auto& f : fibers) f.join();
  });
}
