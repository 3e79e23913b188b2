// Promises of <grove/detail/suspension.hpp> beyond what fiber/timeout tests show: the
// uninterruptible suspension that waits for a cancelled operation's completion.
#include <doctest/doctest.h>

#include <chrono>
#include <grove/detail/suspension.hpp>  // first: the header is self-contained
#include <grove/grove.hpp>

using namespace std::chrono_literals;

TEST_CASE("an uninterruptible suspension defers a kill to the next wait") {
  grove::run([] {
    grove::detail::fiber_base* waiter = nullptr;
    bool woke_notified = false;
    bool killed_later = false;
    auto f = grove::spawn([&] {
      waiter = grove::detail::current_fiber();
      woke_notified =
          grove::detail::suspend_uninterruptible() == grove::detail::wake_reason::notified;
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        killed_later = true;
        throw;
      }
    });
    grove::this_fiber::yield();  // f is now suspended
    f.kill();                    // must not wake it
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(f.ready());
    CHECK(grove::detail::wake(waiter, grove::detail::wake_reason::notified));
    f.join();
    CHECK(woke_notified);
    CHECK(killed_later);
  });
}

TEST_CASE("an uninterruptible suspension outlives a scoped timeout, which fires at the next wait") {
  grove::run([] {
    grove::detail::fiber_base* waiter = nullptr;
    auto f = grove::spawn([&] {
      waiter = grove::detail::current_fiber();
      grove::timeout t(10ms);
      CHECK(grove::detail::suspend_uninterruptible() == grove::detail::wake_reason::notified);
      CHECK(t.expired());
      CHECK_THROWS_AS(grove::this_fiber::yield(), grove::timeout_error);
    });
    grove::this_fiber::sleep_for(50ms);
    grove::detail::wake(waiter, grove::detail::wake_reason::notified);
    f.get();
  });
}

TEST_CASE("an uninterruptible suspension honours its own deadline; outside a fiber it is a no-op") {
  CHECK(grove::detail::suspend_uninterruptible() == grove::detail::wake_reason::none);
  grove::run([] {
    auto r = grove::detail::suspend_uninterruptible(grove::detail::clock::now() + 5ms);
    CHECK(r == grove::detail::wake_reason::deadline);
  });
}
