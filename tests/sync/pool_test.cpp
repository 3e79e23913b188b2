// Promises of <grove/pool.hpp>.
#include <grove/pool.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

TEST_CASE("a pool runs at most its size at once; spawn waits for a free slot") {
  grove::run([] {
    grove::pool p(3);
    CHECK(p.capacity() == 3);
    int running = 0;
    int most = 0;
    for (int i = 0; i < 10; ++i) {
      p.spawn([&] {
        ++running;
        most = std::max(most, running);
        grove::this_fiber::sleep_for(1ms);
        --running;
      });
      CHECK(p.size() <= 3);
    }
    p.join();
    CHECK(most == 3);
    CHECK(p.free_slots() == 3);
    CHECK_THROWS_AS(grove::pool(0), grove::error);
  });
}

TEST_CASE("fibers waiting for a slot get one in FIFO order") {
  grove::run([] {
    grove::pool p(1);
    grove::event release;
    p.spawn([&] { release.wait(); });
    std::vector<int> order;
    std::vector<grove::fiber<void>> spawners;
    for (int i = 0; i < 3; ++i) {
      spawners.push_back(grove::spawn([&, i] { p.spawn([&order, i] { order.push_back(i); }); }));
    }
    grove::this_fiber::yield();
    release.set();
    for (auto& s : spawners) s.join();
    p.join();
    CHECK(order == std::vector<int>{0, 1, 2});
  });
}

TEST_CASE("a member killed before it started frees its slot") {
  grove::run([] {
    grove::pool p(1);
    auto first = p.spawn([] {});
    first.kill();
    CHECK(p.full());  // until the hub drops the killed fiber, which this spawn waits for
    auto second = p.spawn([] { return 2; });
    CHECK(second.get() == 2);
  });
}

TEST_CASE("a fiber killed while waiting for a slot takes none") {
  grove::run([] {
    grove::pool p(1);
    grove::event release;
    p.spawn([&] { release.wait(); });
    auto victim = grove::spawn([&] { p.spawn([] {}); });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    release.set();
    p.join();
    CHECK(p.free_slots() == 1);
  });
}

TEST_CASE("killing a dispatcher, then the pool, returns: the killed dispatcher's last spawns die") {
  // The tour's pipeline (issue 12): a killed fiber runs on until its next suspension, and
  // neither a non-empty queue's get() nor a free slot suspends, so the dispatcher spawned new
  // members while pool::kill() waited, and kill() waited for them forever.
  grove::run([] {
    grove::pool p(2);
    grove::queue<int> jobs(8);
    grove::event never;
    for (int i = 0; i < 8; ++i) jobs.put(i);
    auto first = p.spawn([&] { never.wait(); });
    p.spawn([&] { never.wait(); });
    int spawned = 0;
    auto dispatcher = grove::spawn([&] {
      for (;;) {
        jobs.get();
        p.spawn([&] { never.wait(); });
        ++spawned;
      }
    });
    grove::this_fiber::yield();  // the dispatcher waits for a slot
    CHECK(spawned == 0);
    first.kill();
    grove::this_fiber::yield();  // `first` leaves and hands its slot to the dispatcher
    dispatcher.kill();           // ready with the slot: the kill waits for its next suspension
    p.kill();
    CHECK(p.empty());
    CHECK(spawned >= 1);
    dispatcher.join();
    p.join();
    CHECK(p.free_slots() == 2);
  });
}

TEST_CASE("map returns the results in input order") {
  grove::run([] {
    grove::pool p(4);
    std::vector<int> in{5, 1, 4, 2, 3};
    auto out = p.map(
        [](int ms) {
          grove::this_fiber::sleep_for(std::chrono::milliseconds(ms));
          return ms * 10;
        },
        in);
    CHECK(out == std::vector<int>{50, 10, 40, 20, 30});
    int calls = 0;
    p.map([&](const std::string&) { ++calls; }, std::vector<std::string>{"a", "b"});
    CHECK(calls == 2);
  });
}

TEST_CASE("map rethrows a task's exception and kills the tasks still running") {
  grove::run([] {
    grove::pool p(8);
    int finished = 0;
    CHECK_THROWS_WITH_AS(p.map(
                             [&](int i) {
                               if (i == 0) throw std::runtime_error("task 0 failed");
                               grove::this_fiber::sleep_for(10s);
                               ++finished;
                               return i;
                             },
                             std::vector<int>{0, 1, 2, 3}),
                         "task 0 failed", std::runtime_error);
    p.join();
    CHECK(finished == 0);
  });
}

TEST_CASE("imap_unordered yields every result, in completion order") {
  grove::run([] {
    grove::pool p(4);
    std::vector<int> got;
    for (int v : p.imap_unordered(
             [](int ms) {
               grove::this_fiber::sleep_for(std::chrono::milliseconds(ms));
               return ms;
             },
             std::vector<int>{30, 1, 15, 5})) {
      got.push_back(v);
    }
    CHECK(got == std::vector<int>{1, 5, 15, 30});
    std::vector<int> many(100);
    for (int i = 0; i < 100; ++i) many[i] = i;
    int sum = 0;
    for (int v : p.imap_unordered([](int i) { return i * 2; }, many)) sum += v;
    CHECK(sum == 9900);
    p.join();
    CHECK(p.empty());
  });
}

TEST_CASE("imap_unordered ends with a task's error; leaving the loop early stops the run") {
  grove::run([] {
    grove::pool p(2);
    std::vector<int> got;
    auto failing = [](int i) {
      if (i == 3) throw std::invalid_argument("bad item 3");
      return i;
    };
    CHECK_THROWS_AS(
        [&] {
          for (int v : p.imap_unordered(failing, std::vector<int>{1, 2, 3, 4, 5, 6}))
            got.push_back(v);
        }(),
        std::invalid_argument);
    CHECK(std::find(got.begin(), got.end(), 3) == got.end());
    p.join();

    int started = 0;
    {
      auto results = p.imap_unordered(
          [&](int i) {
            ++started;
            grove::this_fiber::sleep_for(1ms);
            return i;
          },
          std::vector<int>(1000, 1));
      for (int v : results) {
        (void)v;
        break;
      }
    }
    grove::this_fiber::sleep_for(5ms);
    CHECK(p.empty());
    CHECK(started < 1000);
  });
}

TEST_CASE("assigning over an unordered_results stops the run it held") {
  grove::run([] {
    grove::pool p(2);
    int finished = 0;
    auto slow = [&](int) {
      grove::this_fiber::sleep_for(std::chrono::hours(1));
      return ++finished;
    };
    auto results = p.imap_unordered(slow, std::vector<int>{1, 2, 3});
    grove::this_fiber::yield();
    results = p.imap_unordered([](int i) { return i; }, std::vector<int>{7});
    int sum = 0;
    for (int v : results) sum += v;
    CHECK(sum == 7);
    p.join();  // the first run's tasks were killed, not left sleeping
    CHECK(finished == 0);
  });
}
