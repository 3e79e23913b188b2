// Promises of <grove/semaphore.hpp>.
#include <grove/semaphore.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("acquire takes free permits and waits when none is left") {
  grove::run([] {
    grove::semaphore s(2);
    s.acquire();
    CHECK(s.try_acquire());
    CHECK_FALSE(s.try_acquire());
    CHECK(s.available() == 0);
    bool got = false;
    auto waiter = grove::spawn([&] {
      s.acquire();
      got = true;
    });
    grove::this_fiber::yield();
    CHECK_FALSE(got);
    s.release();
    waiter.join();
    CHECK(got);
    CHECK(s.available() == 0);
  });
}

TEST_CASE("waiters are served in FIFO order and a release cannot be barged") {
  grove::run([] {
    grove::semaphore s(0);
    std::vector<int> order;
    std::vector<grove::fiber<void>> waiters;
    for (int i = 0; i < 4; ++i) {
      waiters.push_back(grove::spawn([&, i] {
        s.acquire();
        order.push_back(i);
      }));
    }
    grove::this_fiber::yield();
    s.release();
    // The permit now belongs to waiter 0, though it has not run yet: nobody else can take it.
    CHECK_FALSE(s.try_acquire());
    CHECK(s.available() == 0);
    s.release(3);
    for (auto& w : waiters) w.join();
    CHECK(order == std::vector<int>{0, 1, 2, 3});
    CHECK(s.available() == 0);
  });
}

TEST_CASE("a waiter killed before a release takes nothing: the permit goes to the next waiter") {
  grove::run([] {
    grove::semaphore s(0);
    bool second_got = false;
    auto first = grove::spawn([&] { s.acquire(); });
    auto second = grove::spawn([&] {
      s.acquire();
      second_got = true;
    });
    grove::this_fiber::yield();
    first.kill();  // woken by the kill, still queued until it runs
    s.release();
    first.join();
    second.join();
    CHECK(second_got);
    CHECK(s.available() == 0);
    s.release();
    CHECK(s.available() == 1);
  });
}

TEST_CASE("a waiter handed a permit and then killed keeps it; the kill comes at its next wait") {
  grove::run([] {
    grove::semaphore s(0);
    bool returned = false;
    bool killed_later = false;
    auto waiter = grove::spawn([&] {
      s.acquire();
      returned = true;
      try {
        grove::this_fiber::yield();
      } catch (const grove::fiber_killed&) {
        killed_later = true;
        s.release();  // it owned the permit: give it back on the way out
        throw;
      }
    });
    grove::this_fiber::yield();
    s.release();
    waiter.kill();
    waiter.join();
    CHECK(returned);
    CHECK(killed_later);
    CHECK(s.available() == 1);
  });
}

TEST_CASE("try_acquire_for gives up after its timeout and a scoped timeout takes nothing") {
  grove::run([] {
    grove::semaphore s(0);
    auto start = std::chrono::steady_clock::now();
    bool acquired = s.try_acquire_for(15ms);
    CHECK_FALSE(acquired);
    CHECK(std::chrono::steady_clock::now() - start >= 15ms);
    acquired = s.try_acquire_for(0ms);
    CHECK_FALSE(acquired);
    acquired = s.try_acquire_until(std::chrono::steady_clock::now() + 1ms);
    CHECK_FALSE(acquired);
    {
      grove::timeout t(5ms);
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { s.acquire(); });
      CHECK(timed_out);
    }
    s.release();
    CHECK(s.available() == 1);
    grove::call_later(5ms, [&] { s.release(); });
    acquired = s.try_acquire_for(10s);
    CHECK(acquired);
    acquired = s.try_acquire_for(10s);
    CHECK(acquired);
  });
}

TEST_CASE("a bounded semaphore refuses a release past its bound and changes nothing") {
  grove::run([] {
    grove::bounded_semaphore s(2);
    CHECK_THROWS_AS(s.release(), grove::error);
    s.acquire();
    CHECK_THROWS_AS(s.release(2), grove::error);
    CHECK(s.available() == 1);
    s.release();
    CHECK(s.available() == 2);
    grove::semaphore unbounded(0);
    unbounded.release(5);
    CHECK(unbounded.available() == 5);
  });
}

TEST_CASE("a wake that handed nothing over gives a waiter no permit") {
  grove::run([] {
    grove::semaphore s(0);
    grove::detail::wake_token waiter;
    bool acquired = false;
    auto f = grove::spawn([&] {
      waiter = grove::detail::next_suspension();  // the token of acquire()'s suspension
      s.acquire();
      acquired = true;
    });
    grove::this_fiber::yield();
    CHECK(grove::detail::wake(waiter, grove::detail::wake_reason::notified));
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(acquired);
    s.release();
    f.get();
    CHECK(acquired);
    CHECK(s.available() == 0);
  });
}
