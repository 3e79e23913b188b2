// Promises of <grove/fiber_local.hpp>.
#include <grove/fiber_local.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include <grove/grove.hpp>

TEST_CASE("each fiber sees its own value, created on first use") {
  grove::run([] {
    grove::fiber_local<int> counter;
    grove::fiber_local<std::string> label([] { return std::string("unset"); });
    std::vector<grove::fiber<int>> fibers;
    for (int i = 1; i <= 3; ++i) {
      fibers.push_back(grove::spawn([&, i] {
        CHECK_FALSE(counter.has_value());
        CHECK(*label == "unset");
        for (int k = 0; k < i; ++k) {
          ++*counter;
          grove::this_fiber::yield();
        }
        return counter.get();
      }));
    }
    for (int i = 1; i <= 3; ++i) {
      int seen = fibers[i - 1].get();
      CHECK(seen == i);
    }
    CHECK(counter.get() == 0);  // the main fiber's own
    label->append("!");
    CHECK(*label == "unset!");
  });
}

TEST_CASE("values are destroyed when their fiber ends, killed or not") {
  grove::run([] {
    auto tracker = std::make_shared<int>(0);
    std::weak_ptr<int> watch = tracker;
    grove::fiber_local<std::shared_ptr<int>> held;
    auto normal = grove::spawn([&] { *held = tracker; });
    auto killed = grove::spawn([&] {
      *held = tracker;
      grove::this_fiber::sleep_for(std::chrono::hours(1));
    });
    grove::this_fiber::yield();
    CHECK(tracker.use_count() == 2);  // normal already ended; killed holds one
    killed.kill();
    killed.join();
    normal.join();
    CHECK(tracker.use_count() == 1);
    tracker.reset();
    CHECK(watch.expired());
  });
}

TEST_CASE("reset destroys the calling fiber's value, and a new fiber_local never sees old values") {
  grove::run([] {
    int destroyed = 0;
    struct noisy {
      int* count = nullptr;
      ~noisy() {
        if (count) ++*count;
      }
    };
    {
      grove::fiber_local<noisy> local;
      local->count = &destroyed;
      local.reset();
      CHECK(destroyed == 1);
      CHECK_FALSE(local.has_value());
    }
    for (int i = 0; i < 3; ++i) {
      grove::fiber_local<int> fresh;  // often at the same address as the last one
      CHECK_FALSE(fresh.has_value());
      *fresh = 5;
    }
  });
}

TEST_CASE("a fiber_local outside a fiber is a clear error") {
  grove::fiber_local<int> local;
  CHECK_THROWS_AS(local.get(), grove::error);
  grove::run([&] {
    bool threw = false;
    grove::call_soon([&] {
      try {
        local.get();
      } catch (const grove::error&) {
        threw = true;
      }
    });
    grove::this_fiber::yield();
    CHECK(threw);
  });
}
