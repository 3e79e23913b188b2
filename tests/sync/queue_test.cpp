// Promises of <grove/queue.hpp>: queue, lifo_queue, priority_queue.
#include <grove/queue.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <grove/grove.hpp>

#include "stress.hpp"
#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("items leave a queue in FIFO order, a lifo_queue in LIFO, a priority_queue by rank") {
  grove::run([] {
    grove::queue<int> fifo;
    grove::lifo_queue<int> lifo;
    grove::priority_queue<int> greatest_first;
    grove::priority_queue<int, std::greater<int>> smallest_first;
    for (int v : {3, 1, 4, 1, 5}) {
      fifo.put(v);
      lifo.put(v);
      greatest_first.put(v);
      smallest_first.put(v);
    }
    CHECK(fifo.size() == 5);
    auto drain = [](auto& q) {
      std::vector<int> out;
      while (auto v = q.try_get()) out.push_back(*v);
      return out;
    };
    CHECK(drain(fifo) == std::vector<int>{3, 1, 4, 1, 5});
    CHECK(drain(lifo) == std::vector<int>{5, 1, 4, 1, 3});
    CHECK(drain(greatest_first) == std::vector<int>{5, 4, 3, 1, 1});
    CHECK(drain(smallest_first) == std::vector<int>{1, 1, 3, 4, 5});
    CHECK(fifo.empty());
  });
}

TEST_CASE("a bounded queue makes put wait while full; try_put and put_for give up") {
  grove::run([] {
    grove::queue<std::string> q(2);
    CHECK(q.capacity() == 2);
    q.put("a");
    CHECK(q.try_put("b"));
    CHECK(q.full());
    std::string kept = "c";
    CHECK_FALSE(q.try_put(std::move(kept)));
    CHECK(kept == "c");  // not moved from when refused
    bool put = q.put_for(std::move(kept), 5ms);
    CHECK_FALSE(put);
    CHECK(kept == "c");
    bool put_done = false;
    auto putter = grove::spawn([&] {
      q.put("d");
      put_done = true;
    });
    grove::this_fiber::yield();
    CHECK_FALSE(put_done);
    auto first = q.get();
    CHECK(first == "a");
    CHECK(q.size() == 2);  // the waiting putter's item moved in at once
    CHECK(q.full());
    putter.join();
    CHECK(put_done);
    auto second = q.get();
    CHECK(second == "b");
    auto third = q.get();
    CHECK(third == "d");
    bool more = q.get_for(2ms).has_value();
    CHECK_FALSE(more);
  });
}

TEST_CASE("getters are served in FIFO order and an item put for a waiter cannot be barged") {
  grove::run([] {
    grove::queue<int> q;
    std::vector<int> got(3, -1);
    std::vector<grove::fiber<void>> getters;
    for (int i = 0; i < 3; ++i) getters.push_back(grove::spawn([&, i] { got[i] = q.get(); }));
    grove::this_fiber::yield();
    q.put(10);
    CHECK_FALSE(q.try_get().has_value());  // 10 already belongs to getter 0
    q.put(11);
    q.put(12);
    for (auto& g : getters) g.join();
    CHECK(got == std::vector<int>{10, 11, 12});
  });
}

TEST_CASE("waiting putters are served in FIFO order") {
  grove::run([] {
    grove::queue<int> q(1);
    q.put(0);
    std::vector<grove::fiber<void>> putters;
    for (int i = 1; i <= 3; ++i) putters.push_back(grove::spawn([&q, i] { q.put(i); }));
    grove::this_fiber::yield();
    std::vector<int> got;
    for (int i = 0; i < 4; ++i) got.push_back(q.get());
    CHECK(got == std::vector<int>{0, 1, 2, 3});
    for (auto& p : putters) p.join();
  });
}

TEST_CASE("close wakes waiting getters and putters; getters drain what is left first") {
  grove::run([] {
    grove::queue<int> empty;
    bool getter_saw_close = false;
    auto getter = grove::spawn([&] {
      try {
        empty.get();
      } catch (const grove::queue_closed&) {
        getter_saw_close = true;
      }
    });
    grove::queue<int> full(1);
    full.put(1);
    bool putter_saw_close = false;
    auto putter = grove::spawn([&] {
      try {
        full.put(2);
      } catch (const grove::queue_closed&) {
        putter_saw_close = true;
      }
    });
    grove::this_fiber::yield();
    CHECK(empty.close());
    CHECK_FALSE(empty.close());
    CHECK(full.close());
    getter.join();
    putter.join();
    CHECK(getter_saw_close);
    CHECK(putter_saw_close);
    CHECK(full.closed());
    bool put_refused = grove_test::throws<grove::queue_closed>([&] { full.put(3); });
    CHECK(put_refused);
    CHECK_THROWS_AS(full.try_put(3), grove::queue_closed);
    int drained = full.get();
    CHECK(drained == 1);  // drained first
    bool get_refused = grove_test::throws<grove::queue_closed>([&] { full.get(); });
    CHECK(get_refused);
    CHECK_THROWS_AS(full.try_get(), grove::queue_closed);
    bool get_for_refused = grove_test::throws<grove::queue_closed>([&] { (void)full.get_for(1s); });
    CHECK(get_for_refused);
  });
}

TEST_CASE("join waits until every item put has been marked with task_done") {
  grove::run([] {
    grove::queue<int> q(2);
    int processed = 0;
    auto worker = grove::spawn([&] {
      for (int i = 0; i < 5; ++i) {
        q.get();
        grove::this_fiber::yield();
        ++processed;
        q.task_done();
      }
    });
    for (int i = 0; i < 5; ++i) q.put(i);
    CHECK(q.unfinished_tasks() > 0);
    q.join();
    CHECK(processed == 5);
    CHECK(q.unfinished_tasks() == 0);
    bool joined = q.join_for(0ms);
    CHECK(joined);
    CHECK_THROWS_AS(q.task_done(), grove::error);
    q.put(9);
    joined = q.join_for(5ms);
    CHECK_FALSE(joined);
    worker.join();
  });
}

TEST_CASE("a killed getter takes nothing: the next item goes to the next getter") {
  grove::run([] {
    grove::queue<int> q;
    int second_got = -1;
    auto victim = grove::spawn([&] { q.get(); });
    auto second = grove::spawn([&] { second_got = q.get(); });
    grove::this_fiber::yield();
    victim.kill();
    q.put(5);
    victim.join();
    second.join();
    CHECK(second_got == 5);
    CHECK(q.empty());
  });
}

TEST_CASE("a getter handed an item and then killed still returns it; the kill comes next") {
  grove::run([] {
    grove::queue<int> q;
    int got = -1;
    bool killed_later = false;
    auto getter = grove::spawn([&] {
      got = q.get();
      try {
        grove::this_fiber::yield();
      } catch (const grove::fiber_killed&) {
        killed_later = true;
        throw;
      }
    });
    grove::this_fiber::yield();
    q.put(8);
    getter.kill();
    getter.join();
    CHECK(got == 8);
    CHECK(killed_later);
  });
}

TEST_CASE("a putter killed or timed out while waiting leaves nothing in the queue") {
  grove::run([] {
    grove::queue<int> q(1);
    q.put(1);
    auto victim = grove::spawn([&] { q.put(2); });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    {
      grove::timeout t(2ms);
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { q.put(3); });
      CHECK(timed_out);
    }
    int first = q.get();
    CHECK(first == 1);
    CHECK(q.empty());
    CHECK(q.unfinished_tasks() == 1);
  });
}

TEST_CASE("move-only items pass through, and capacity 0 is refused") {
  grove::run([] {
    grove::queue<std::unique_ptr<int>> q(1);
    auto getter = grove::spawn([&] { return *q.get() + *q.get(); });
    q.put(std::make_unique<int>(2));
    q.put(std::make_unique<int>(3));
    int sum = getter.get();
    CHECK(sum == 5);
    CHECK_THROWS_AS(grove::queue<int>(0), grove::error);
  });
}

TEST_CASE("stress: 10k producers and consumers, random yields and kills, every item exactly once") {
  constexpr int producers = 5000;
  constexpr int consumers = 5000;
  constexpr int items_each = 4;
  constexpr int total = producers * items_each;
  std::vector<int> produced(total, 0);
  std::vector<int> consumed(total, 0);
  grove::run([&] {
    grove::with_timeout(60s, [&] {
      grove::queue<int> q(64);
      stress::dice d{std::mt19937(12345)};
      grove::spawn_options small{.name = "", .stack_size = 32 * 1024};
      std::vector<grove::fiber<void>> producer_fibers;
      std::vector<grove::fiber<void>> consumer_fibers;
      for (int p = 0; p < producers; ++p) {
        producer_fibers.push_back(grove::spawn(small, [&, p] {
          for (int j = 0; j < items_each; ++j) {
            if (d.coin(30)) grove::this_fiber::yield();
            int id = p * items_each + j;
            q.put(id);
            ++produced[id];
          }
        }));
      }
      for (int c = 0; c < consumers; ++c) {
        consumer_fibers.push_back(grove::spawn(small, [&] {
          try {
            for (;;) {
              ++consumed[q.get()];
              if (d.coin(30)) grove::this_fiber::yield();
            }
          } catch (const grove::queue_closed&) {
          }
        }));
      }
      // Up to 10% of everyone, while the run lasts (a few rounds).
      stress::kill_at_random(d, producer_fibers, consumer_fibers, 10, 100);
      for (auto& f : producer_fibers) f.join();
      q.close();
      for (auto& f : consumer_fibers) f.join();
      try {
        while (auto id = q.try_get()) ++consumed[*id];  // if every consumer was killed
      } catch (const grove::queue_closed&) {
      }
    });
  });
  int delivered = stress::check_exactly_once(produced, consumed);
  MESSAGE(delivered << " of " << total << " items put before their producer was killed");
  CHECK(delivered > total / 2);
}
