// Promises of <grove/detail/suspension.hpp> that the public headers do not show directly.
#include <grove/detail/suspension.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

TEST_CASE("an uninterruptible suspension defers a kill to the next suspension") {
  grove::run([] {
    grove::detail::fiber_base* sleeper = nullptr;
    bool woke_normally = false;
    bool killed_later = false;
    auto f = grove::spawn([&] {
      sleeper = grove::detail::current_fiber();
      auto why = grove::detail::suspend_uninterruptible();
      woke_normally = why == grove::detail::wake_reason::notified;
      try {
        grove::this_fiber::yield();
      } catch (const grove::fiber_killed&) {
        killed_later = true;
        throw;
      }
    });
    grove::this_fiber::yield();
    f.kill();  // must not wake it
    grove::this_fiber::yield();
    CHECK_FALSE(f.ready());
    CHECK(grove::detail::wake(sleeper, grove::detail::wake_reason::notified));
    f.join();
    CHECK(woke_normally);
    CHECK(killed_later);
  });
}

TEST_CASE("an uninterruptible suspension defers a scoped timeout and keeps its own deadline") {
  grove::run([] {
    grove::timeout t(1ms);
    auto why = grove::detail::suspend_uninterruptible(grove::detail::clock::now() + 20ms);
    CHECK(why == grove::detail::wake_reason::deadline);
    CHECK(t.expired());
    CHECK_THROWS_AS(grove::this_fiber::yield(), grove::timeout_error);
  });
}
