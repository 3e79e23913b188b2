// Promises of <grove/event.hpp>.
#include <grove/event.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

TEST_CASE("set wakes every waiting fiber and each wait returns") {
  grove::run([] {
    grove::event e;
    int woken = 0;
    std::vector<grove::fiber<void>> waiters;
    for (int i = 0; i < 5; ++i) {
      waiters.push_back(grove::spawn([&] {
        e.wait();
        ++woken;
      }));
    }
    grove::this_fiber::yield();
    CHECK(woken == 0);
    e.set();
    CHECK(e.is_set());
    for (auto& w : waiters) w.join();
    CHECK(woken == 5);
  });
}

TEST_CASE("wait returns at once while the event is set, and clear makes waits block again") {
  grove::run([] {
    grove::event e;
    e.set();
    e.wait();
    bool set = e.wait_for(0ms);
    CHECK(set);
    e.clear();
    CHECK_FALSE(e.is_set());
    set = e.wait_for(0ms);
    CHECK_FALSE(set);
    auto start = std::chrono::steady_clock::now();
    set = e.wait_for(20ms);
    CHECK_FALSE(set);
    CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  });
}

TEST_CASE("a fiber woken by set returns true even if the event is cleared before it runs") {
  grove::run([] {
    grove::event e;
    bool result = false;
    auto waiter = grove::spawn([&] { result = e.wait_for(10s); });
    grove::this_fiber::yield();
    e.set();
    e.clear();
    waiter.join();
    CHECK(result);
  });
}

TEST_CASE("wait_until accepts steady and system clock time points") {
  grove::run([] {
    grove::event e;
    bool set = e.wait_until(std::chrono::steady_clock::now() + 5ms);
    CHECK_FALSE(set);
    set = e.wait_until(std::chrono::system_clock::now() + 5ms);
    CHECK_FALSE(set);
    grove::call_later(5ms, [&] { e.set(); });
    set = e.wait_until(std::chrono::system_clock::now() + 10s);
    CHECK(set);
  });
}

TEST_CASE("set from a hub callback wakes a waiting fiber") {
  grove::run([] {
    grove::event e;
    grove::call_soon([&] { e.set(); });
    e.wait();
    CHECK(e.is_set());
  });
}

TEST_CASE("kill wakes a fiber blocked on an event and the event keeps working") {
  grove::run([] {
    grove::event e;
    bool killed = false;
    bool other_woke = false;
    auto victim = grove::spawn([&] {
      try {
        e.wait();
      } catch (const grove::fiber_killed&) {
        killed = true;
        throw;
      }
    });
    auto other = grove::spawn([&] { other_woke = e.wait_for(10s); });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    CHECK(killed);
    e.set();
    other.join();
    CHECK(other_woke);
  });
}

TEST_CASE("a scoped timeout interrupts an event wait") {
  grove::run([] {
    grove::event e;
    grove::timeout t(10ms);
    try {
      e.wait();
      FAIL("wait returned");
    } catch (const grove::timeout_error& error) {
      CHECK(error.from(t));
    }
  });
}

TEST_CASE("a huge timeout or a far time point means forever, not an overflow into the past") {
  grove::run([] {
    grove::event e;
    grove::call_later(2ms, [&] { e.set(); });
    bool set = e.wait_for(std::chrono::hours::max());
    CHECK(set);
    e.clear();
    grove::call_later(2ms, [&] { e.set(); });
    set =
        e.wait_until(std::chrono::time_point<std::chrono::steady_clock, std::chrono::hours>::max());
    CHECK(set);
  });
}

TEST_CASE("a wake that did not come from set() does not end a wait") {
  grove::run([] {
    grove::event e;
    grove::detail::wake_token waiter;
    bool returned = false;
    auto f = grove::spawn([&] {
      waiter = grove::detail::next_suspension();  // the token of wait()'s suspension
      e.wait();
      returned = true;
    });
    grove::this_fiber::yield();
    CHECK(grove::detail::wake(waiter, grove::detail::wake_reason::notified));
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(returned);
    e.set();
    f.get();
    CHECK(returned);
  });
}
