// Promises of <grove/wait.hpp>.
#include <grove/wait.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

TEST_CASE("wait_all waits for fibers, events and futures together") {
  grove::run([] {
    grove::event e;
    grove::promise<int> p;
    auto f = p.get_future();
    auto fiber = grove::spawn([] { grove::this_fiber::sleep_for(2ms); });
    grove::call_later(4ms, [&] { e.set(); });
    grove::call_later(6ms, [&] { p.set_value(1); });
    grove::wait_all(fiber, e, f);
    CHECK(fiber.ready());
    CHECK(e.is_set());
    CHECK(f.ready());
    grove::wait_all(fiber, e, f);  // nothing consumed: still ready
  });
}

TEST_CASE("wait_any returns the index of the first source to become ready") {
  grove::run([] {
    grove::event never;
    grove::promise<void> p;
    auto f = p.get_future();
    auto slow = grove::spawn([&] { never.wait(); });
    auto fast = grove::spawn([] { grove::this_fiber::sleep_for(1ms); });
    CHECK(grove::wait_any(never, slow, fast, f) == 2);
    p.set_value();
    CHECK(grove::wait_any(never, slow, f) == 2);
    never.set();
    CHECK(grove::wait_any(never, f) == 0);  // argument order among ready ones
    slow.join();
  });
}

TEST_CASE("the timed forms give up at the deadline") {
  grove::run([] {
    grove::event a;
    grove::event b;
    b.set();
    CHECK_FALSE(grove::wait_all_for(2ms, a, b));
    CHECK_FALSE(grove::wait_any_for(2ms, a).has_value());
    CHECK(grove::wait_any_for(0ms, a, b) == 1);
    grove::call_later(2ms, [&] { a.set(); });
    CHECK(grove::wait_all_for(10s, a, b));
  });
}

TEST_CASE("ranges of sources work, and an empty fiber handle counts as ready") {
  grove::run([] {
    std::vector<grove::event> go(20);
    std::vector<grove::fiber<int>> fibers;
    for (int i = 0; i < 20; ++i) {
      fibers.push_back(grove::spawn([&go, i] {
        go[i].wait();
        return i;
      }));
    }
    grove::call_soon([&] { go[13].set(); });
    CHECK(grove::wait_any(fibers) == 13);
    CHECK_FALSE(grove::wait_all_for(0ms, fibers));
    for (auto& e : go) e.set();
    grove::wait_all(fibers);
    for (auto& f : fibers) CHECK(f.ready());
    std::vector<grove::event> events(3);
    CHECK_FALSE(grove::wait_any_for(1ms, events).has_value());
    grove::fiber<void> empty;
    grove::wait_all(empty);
    CHECK(grove::wait_any(empty) == 0);
    std::vector<grove::event> none;
    grove::wait_all(none);
    CHECK(grove::wait_any(none) == 0);
  });
}

TEST_CASE("kill and scoped timeouts interrupt wait_all and wait_any and leave the sources usable") {
  grove::run([] {
    grove::event e;
    auto victim = grove::spawn([&] { grove::wait_any(e); });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    {
      grove::timeout t(2ms);
      CHECK_THROWS_AS(grove::wait_all(e), grove::timeout_error);
    }
    auto waiter = grove::spawn([&] { return grove::wait_any(e); });
    grove::this_fiber::yield();
    e.set();
    CHECK(waiter.get() == 0);
  });
}
