// Promises of <grove/condition_variable.hpp>.
#include <grove/condition_variable.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("wait releases the mutex while waiting and holds it again when it returns") {
  grove::run([] {
    grove::mutex m;
    grove::condition_variable cv;
    std::deque<int> items;
    int got = -1;
    auto consumer = grove::spawn([&] {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return !items.empty(); });
      CHECK(lock.owns_lock());
      CHECK(m.locked());
      got = items.front();
    });
    grove::this_fiber::yield();
    {
      std::lock_guard lock(m);  // free: the consumer released it
      items.push_back(7);
    }
    cv.notify_one();
    consumer.join();
    CHECK(got == 7);
    CHECK_FALSE(m.locked());
  });
}

TEST_CASE("notify_one wakes waiters in FIFO order and notify_all wakes the rest") {
  grove::run([] {
    grove::mutex m;
    grove::condition_variable cv;
    std::vector<int> order;
    std::vector<grove::fiber<void>> waiters;
    for (int i = 0; i < 4; ++i) {
      waiters.push_back(grove::spawn([&, i] {
        std::unique_lock lock(m);
        cv.wait(lock);
        order.push_back(i);
      }));
    }
    grove::this_fiber::yield();
    cv.notify_one();
    grove::this_fiber::yield();
    CHECK(order == std::vector<int>{0});
    cv.notify_all();
    for (auto& w : waiters) w.join();
    CHECK(order == std::vector<int>{0, 1, 2, 3});
  });
}

TEST_CASE("timed waits report the timeout and hold the mutex again") {
  grove::run([] {
    grove::mutex m;
    grove::condition_variable cv;
    std::unique_lock lock(m);
    std::cv_status status = cv.wait_for(lock, 5ms);
    CHECK(status == std::cv_status::timeout);
    CHECK(lock.owns_lock());
    CHECK(m.locked());
    status = cv.wait_until(lock, std::chrono::steady_clock::now() + 1ms);
    CHECK(status == std::cv_status::timeout);
    bool satisfied = cv.wait_for(lock, 2ms, [] { return false; });
    CHECK_FALSE(satisfied);
    satisfied = cv.wait_for(lock, 0ms, [] { return true; });
    CHECK(satisfied);
    bool flag = false;
    grove::call_later(5ms, [&] {
      flag = true;
      cv.notify_all();
    });
    satisfied = cv.wait_until(lock, std::chrono::system_clock::now() + 10s, [&] { return flag; });
    CHECK(satisfied);
    CHECK(m.locked());
  });
}

TEST_CASE("a kill during a wait re-acquires the mutex before the exception propagates") {
  grove::run([] {
    grove::mutex m;
    grove::condition_variable cv;
    bool held_while_unwinding = false;
    auto victim = grove::spawn([&] {
      std::unique_lock lock(m);
      try {
        cv.wait(lock);
      } catch (const grove::fiber_killed&) {
        // Locking again from the owner throws: proof that this fiber holds the mutex.
        try {
          m.try_lock();
        } catch (const grove::error&) {
          held_while_unwinding = lock.owns_lock();
        }
        throw;
      }
    });
    grove::this_fiber::yield();
    m.lock();  // the victim waits in cv: the mutex is free
    victim.kill();
    for (int i = 0; i < 3; ++i) grove::this_fiber::yield();
    CHECK_FALSE(victim.ready());  // it cannot leave wait() without the mutex
    m.unlock();
    victim.join();
    CHECK(held_while_unwinding);
    CHECK_FALSE(m.locked());
  });
}

TEST_CASE("a scoped timeout during a wait re-acquires the mutex before it propagates") {
  grove::run([] {
    grove::mutex m;
    grove::condition_variable cv;
    std::unique_lock lock(m);
    try {
      grove::timeout t(5ms);
      cv.wait(lock);
      FAIL("wait returned");
    } catch (const grove::timeout_error&) {
      CHECK(lock.owns_lock());
      CHECK(m.locked());
    }
  });
}

TEST_CASE("a kill arriving while a notified waiter re-acquires the mutex is raised afterwards") {
  grove::run([] {
    grove::mutex m;
    grove::condition_variable cv;
    bool returned_with_lock = false;
    bool killed_after = false;
    auto waiter = grove::spawn([&] {
      std::unique_lock lock(m);
      cv.wait(lock);
      returned_with_lock = m.locked() && lock.owns_lock();
      lock.unlock();
      try {
        grove::this_fiber::yield();
      } catch (const grove::fiber_killed&) {
        killed_after = true;
        throw;
      }
    });
    grove::this_fiber::yield();
    m.lock();
    cv.notify_one();
    grove::this_fiber::yield();  // the waiter now waits for the mutex
    waiter.kill();
    grove::this_fiber::yield();
    CHECK_FALSE(waiter.ready());
    m.unlock();
    waiter.join();
    CHECK(returned_with_lock);
    CHECK(killed_after);
  });
}

TEST_CASE("waiting without holding the lock is an error") {
  grove::run([] {
    grove::mutex m;
    grove::condition_variable cv;
    std::unique_lock lock(m, std::defer_lock);
    bool refused = grove_test::throws<grove::error>([&] { cv.wait(lock); });
    CHECK(refused);
  });
}
