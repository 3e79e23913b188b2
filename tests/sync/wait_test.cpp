// Promises of <grove/wait.hpp>.
#include <grove/wait.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

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
    std::size_t first = grove::wait_any(never, slow, fast, f);
    CHECK(first == 2);
    p.set_value();
    first = grove::wait_any(never, slow, f);
    CHECK(first == 2);
    never.set();
    first = grove::wait_any(never, f);
    CHECK(first == 0);  // argument order among ready ones
    slow.join();
  });
}

TEST_CASE("the timed forms give up at the deadline") {
  grove::run([] {
    grove::event a;
    grove::event b;
    b.set();
    bool all = grove::wait_all_for(2ms, a, b);
    CHECK_FALSE(all);
    bool any = grove::wait_any_for(2ms, a).has_value();
    CHECK_FALSE(any);
    std::optional<std::size_t> first = grove::wait_any_for(0ms, a, b);
    CHECK(first == 1);
    grove::call_later(2ms, [&] { a.set(); });
    all = grove::wait_all_for(10s, a, b);
    CHECK(all);
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
    std::size_t first = grove::wait_any(fibers);
    CHECK(first == 13);
    bool all = grove::wait_all_for(0ms, fibers);
    CHECK_FALSE(all);
    for (auto& e : go) e.set();
    grove::wait_all(fibers);
    for (auto& f : fibers) CHECK(f.ready());
    std::vector<grove::event> events(3);
    bool any = grove::wait_any_for(1ms, events).has_value();
    CHECK_FALSE(any);
    grove::fiber<void> empty;
    grove::wait_all(empty);
    first = grove::wait_any(empty);
    CHECK(first == 0);
    std::vector<grove::event> none;
    grove::wait_all(none);
    first = grove::wait_any(none);
    CHECK(first == 0);
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
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { grove::wait_all(e); });
      CHECK(timed_out);
    }
    auto waiter = grove::spawn([&] { return grove::wait_any(e); });
    grove::this_fiber::yield();
    e.set();
    std::size_t first = waiter.get();
    CHECK(first == 0);
  });
}
