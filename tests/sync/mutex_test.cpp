// Promises of <grove/mutex.hpp>.
#include <grove/mutex.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("a mutex keeps fibers that yield inside the critical section apart") {
  grove::run([] {
    grove::mutex m;
    int inside = 0;
    int most_inside = 0;
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < 10; ++i) {
      fibers.push_back(grove::spawn([&] {
        for (int round = 0; round < 5; ++round) {
          std::lock_guard lock(m);
          ++inside;
          most_inside = std::max(most_inside, inside);
          grove::this_fiber::yield();
          --inside;
        }
      }));
    }
    for (auto& f : fibers) f.join();
    CHECK(most_inside == 1);
    CHECK_FALSE(m.locked());
  });
}

TEST_CASE("unlock hands the mutex to the oldest waiter: FIFO, no barging") {
  grove::run([] {
    grove::mutex m;
    std::vector<int> order;
    m.lock();
    std::vector<grove::fiber<void>> waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.push_back(grove::spawn([&, i] {
        std::unique_lock lock(m);
        order.push_back(i);
      }));
    }
    grove::this_fiber::yield();
    m.unlock();
    CHECK(m.locked());  // already waiter 0's
    CHECK_FALSE(m.try_lock());
    for (auto& w : waiters) w.join();
    CHECK(order == std::vector<int>{0, 1, 2});
  });
}

TEST_CASE("try_lock_for gives up after its timeout; a killed waiter never gets the mutex") {
  grove::run([] {
    grove::mutex m;
    grove::event release;
    auto holder = grove::spawn([&] {
      std::lock_guard lock(m);
      release.wait();
    });
    grove::this_fiber::yield();
    bool locked = m.try_lock_for(5ms);
    CHECK_FALSE(locked);
    locked = m.try_lock_until(std::chrono::steady_clock::now() + 1ms);
    CHECK_FALSE(locked);
    bool victim_got = false;
    auto victim = grove::spawn([&] {
      m.lock();
      victim_got = true;
      m.unlock();
    });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    grove::call_soon([&] { release.set(); });
    locked = m.try_lock_for(10s);
    CHECK(locked);  // after the holder, not the victim
    CHECK_FALSE(victim_got);
    m.unlock();
    holder.join();
  });
}

TEST_CASE("a waiter handed the mutex and then killed unlocks it on the way out") {
  grove::run([] {
    grove::mutex m;
    m.lock();
    bool locked_once = false;
    auto waiter = grove::spawn([&] {
      std::lock_guard lock(m);
      locked_once = true;
      grove::this_fiber::yield();  // the kill lands here
    });
    grove::this_fiber::yield();
    m.unlock();
    waiter.kill();
    waiter.join();
    CHECK(locked_once);
    CHECK_FALSE(m.locked());
  });
}

TEST_CASE("misuse is a clear error: relocking, unlocking unlocked, unlocking another's") {
  grove::run([] {
    grove::mutex m;
    CHECK_THROWS_AS(m.unlock(), grove::error);
    m.lock();
    bool refused = grove_test::throws<grove::error>([&] { m.lock(); });
    CHECK(refused);
    CHECK_THROWS_AS(m.try_lock(), grove::error);
    auto other = grove::spawn([&] { CHECK_THROWS_AS(m.unlock(), grove::error); });
    other.join();
    m.unlock();
    {
      std::unique_lock lock(m, std::try_to_lock);
      CHECK(lock.owns_lock());
    }
    CHECK_FALSE(m.locked());
  });
}

TEST_CASE("a scoped timeout interrupts lock") {
  grove::run([] {
    grove::mutex m;
    auto holder = grove::spawn([&] {
      std::lock_guard lock(m);
      grove::this_fiber::sleep_for(20ms);
    });
    grove::this_fiber::yield();
    {
      grove::timeout t(2ms);
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { m.lock(); });
      CHECK(timed_out);
    }
    holder.join();
    CHECK_FALSE(m.locked());
  });
}

TEST_CASE("a wake that handed nothing over never gives a waiter the mutex") {
  // A late completion or a cross-thread post aimed at this very suspension must not be read as
  // "unlock() made you the owner": the waiter reads its node, not the wake.
  grove::run([] {
    grove::mutex m;
    m.lock();
    grove::detail::wake_token waiter;
    bool locked = false;
    auto f = grove::spawn([&] {
      waiter = grove::detail::next_suspension();  // the token of lock()'s suspension
      m.lock();
      locked = true;
      m.unlock();
    });
    grove::this_fiber::yield();  // f waits in lock()
    CHECK(grove::detail::wake(waiter, grove::detail::wake_reason::notified));
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(locked);  // still waiting: the mutex is ours
    m.unlock();
    f.get();
    CHECK(locked);
  });
}
