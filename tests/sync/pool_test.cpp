// Promises of <grove/pool.hpp>.
#include <grove/pool.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"
#include "stress.hpp"

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
    int result = second.get();
    CHECK(result == 2);
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
  // neither a non-empty queue's get() nor a free slot suspends, so the killed dispatcher
  // spawned new members while pool::kill() waited, and kill() waited for them forever. Now
  // its spawn waits for the kill to end, and its own kill is raised there.
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
    dispatcher.join();
    CHECK(spawned == 0);
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
    std::exception_ptr error = grove_test::thrown<std::runtime_error>([&] {
      p.map(
          [&](int i) {
            if (i == 0) throw std::runtime_error("task 0 failed");
            grove::this_fiber::sleep_for(10s);
            ++finished;
            return i;
          },
          std::vector<int>{0, 1, 2, 3});
    });
    CHECK_THROWS_WITH_AS(grove_test::rethrow(error), "task 0 failed", std::runtime_error);
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
    bool failed = grove_test::throws<std::invalid_argument>([&] {
      for (int v : p.imap_unordered(failing, std::vector<int>{1, 2, 3, 4, 5, 6})) got.push_back(v);
    });
    CHECK(failed);
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

TEST_CASE("imap_unordered ends with killed_error when a task is killed before it started") {
  grove::run([] {
    grove::pool p(2);
    std::vector<int> results;
    bool killed_error_seen = false;
    auto consumer = grove::spawn([&] {
      try {
        for (int r : p.imap_unordered(
                 [](int x) {
                   grove::this_fiber::sleep_for(1ms);
                   return x;
                 },
                 std::vector<int>{0, 1, 2, 3, 4, 5})) {
          results.push_back(r);
        }
      } catch (const grove::killed_error&) {
        killed_error_seen = true;
      }
    });
    grove::this_fiber::yield();  // the consumer starts the helper and waits for a result
    grove::this_fiber::yield();  // the helper spawns two tasks, which have not run yet
    REQUIRE(p.size() == 2);
    p.kill();  // both die before they start: no result, no error of their own
    consumer.join();
    CHECK(killed_error_seen);
    CHECK(results.size() < 6);
    p.join();
    CHECK(p.free_slots() == 2);
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

namespace {

/// Per id: copies made and destroyed of a member's captured `tracked`, and how often the
/// member's body started and unwound. Every count must balance once the pool is empty.
struct ledger {
  std::vector<int> made, destroyed, started, unwound;
  int new_id() {
    for (auto* v : {&made, &destroyed, &started, &unwound}) v->push_back(0);
    return static_cast<int>(made.size()) - 1;
  }
};

/// A capture whose every copy is counted, so a callable destroyed twice or never shows up.
class tracked {
 public:
  tracked(ledger& books, int kind) : books_(&books), id_(books.new_id()), kind_(kind) {
    ++books.made[id_];
  }
  tracked(const tracked& other) : books_(other.books_), id_(other.id_), kind_(other.kind_) {
    if (books_) ++books_->made[id_];
  }
  tracked(tracked&& other) noexcept
      : books_(std::exchange(other.books_, nullptr)), id_(other.id_), kind_(other.kind_) {}
  tracked& operator=(const tracked&) = delete;
  ~tracked() {
    if (books_) ++books_->destroyed[id_];
  }
  int id() const { return id_; }
  int kind() const { return kind_; }

 private:
  ledger* books_;
  int id_;
  int kind_;
};

/// Everything one round of the kill stress test shares.
struct stress_world {
  stress_world(std::size_t slots, stress::dice& dice) : d(dice), pool(slots) {}
  stress::dice& d;
  ledger books;
  grove::queue<int> jobs{4};
  grove::queue<int> feed{8};  // producer -> dispatchers
  grove::channel<int> talk;   // unbuffered: a send waits for a receive
  grove::event never;
  std::vector<grove::fiber<void>> members;  // handles of single spawns, killed at random
  grove::pool pool;
};

/// A member's work: finishes at once, or waits on a queue, a channel, a timeout, a sleep, or
/// an event nobody sets (only a kill ends that one).
int stress_work(stress_world& w, const tracked& t) {
  ++w.books.started[t.id()];
  struct count_unwind {
    ledger& books;
    int id;
    ~count_unwind() { ++books.unwound[id]; }
  } guard{w.books, t.id()};
  switch (t.kind() % 9) {
    case 0:
      break;
    case 1:
      grove::this_fiber::yield();
      break;
    case 2:
      w.jobs.get();
      break;
    case 3:
      w.jobs.put(t.kind());
      break;
    case 4:
      w.talk.send(t.kind());
      break;
    case 5:
      w.talk.receive();
      break;
    case 6:
      grove::with_timeout(
          200us,
          [] {
            grove::this_fiber::sleep_for(1h);
            return 0;
          },
          0);
      break;
    case 7:
      grove::this_fiber::sleep_for(std::chrono::microseconds(t.kind() % 300));
      break;
    default:
      w.never.wait();
      break;
  }
  return t.kind();
}

int random_kind(stress_world& w) { return static_cast<int>(w.d.random() % 1000); }

void spawn_members(stress_world& w, int n) {
  for (int i = 0; i < n; ++i) {
    w.members.push_back(
        w.pool.spawn([&w, t = tracked(w.books, random_kind(w))] { stress_work(w, t); }));
  }
}

/// The tour's dispatcher: whatever arrives on `feed` becomes a member.
void dispatch(stress_world& w) {
  for (;;) {
    int kind = w.feed.get();
    w.pool.spawn([&w, t = tracked(w.books, kind)] { stress_work(w, t); });
  }
}

std::vector<tracked> stress_items(stress_world& w, int n) {
  std::vector<tracked> items;
  for (int i = 0; i < n; ++i) items.emplace_back(w.books, random_kind(w));
  return items;
}

void map_members(stress_world& w, int n) {
  try {
    w.pool.map([&w](const tracked& t) { return stress_work(w, t); }, stress_items(w, n));
  } catch (const grove::killed_error&) {
    // a task was killed
  }
}

void imap_members(stress_world& w, int n, int stop_after) {
  try {
    int seen = 0;
    for (int result : w.pool.imap_unordered([&w](const tracked& t) { return stress_work(w, t); },
                                            stress_items(w, n))) {
      (void)result;
      if (++seen == stop_after) break;  // leaving early kills the rest
    }
  } catch (const grove::killed_error&) {
    // a task was killed
  }
}

}  // namespace

TEST_CASE(
    "stress: kills of spawners, members and the pool at random points all return, "
    "every member's RAII runs once and every slot comes back") {
  constexpr int max_rounds = 2000;
  const auto budget = 4s;  // per test run; ASan gets fewer rounds, not a longer run
  stress::dice d{std::mt19937(20261201)};
  int rounds = 0;
  grove::run([&] {
    auto start = std::chrono::steady_clock::now();
    for (; rounds < max_rounds && std::chrono::steady_clock::now() - start < budget; ++rounds) {
      CAPTURE(rounds);
      std::size_t slots = 1 + d.random() % 4;
      // Leaked if the round hangs: the fibers left behind still use it as they are unwound.
      auto world = std::make_unique<stress_world>(slots, d);
      stress_world& w = *world;
      // Nothing below may wait long: a kill() or join() that hangs ends the round here.
      grove::timeout round_limit(10s);
      try {
        std::vector<grove::fiber<void>> actors;  // spawners, producer, killers: killed at random
        actors.push_back(grove::spawn([&w] {
          for (;;) w.feed.put(random_kind(w));
        }));
        actors.push_back(grove::spawn([&w] { dispatch(w); }));
        actors.push_back(grove::spawn([&w] { dispatch(w); }));
        actors.push_back(grove::spawn([&w] { spawn_members(w, 1 + w.d.random() % 12); }));
        actors.push_back(grove::spawn([&w] { spawn_members(w, 1 + w.d.random() % 12); }));
        actors.push_back(grove::spawn([&w] { map_members(w, 1 + w.d.random() % 10); }));
        actors.push_back(
            grove::spawn([&w] { imap_members(w, 1 + w.d.random() % 10, 1 + w.d.random() % 10); }));
        int steps = static_cast<int>(d.random() % 30);
        int pool_kill_at = static_cast<int>(d.random() % 30);
        for (int step = 0; step < steps; ++step) {
          if (step == pool_kill_at) w.pool.kill();
          switch (d.random() % 7) {
            case 0:
            case 1:
              grove::this_fiber::yield();
              break;
            case 2:
              grove::this_fiber::sleep_for(std::chrono::microseconds(d.random() % 200));
              break;
            case 3:
              actors[d.random() % actors.size()].kill();
              break;
            case 4:
              if (!w.members.empty()) w.members[d.random() % w.members.size()].kill();
              break;
            case 5:  // the tour's cancel: kill a spawner, then the pool at once
              actors[d.random() % actors.size()].kill();
              w.pool.kill();
              CHECK(w.pool.empty());
              break;
            default:  // a killer that may itself be killed while it waits
              actors.push_back(grove::spawn([&w] { w.pool.kill(); }));
              break;
          }
        }
        // Wind down: stop every actor, then the pool. A killed imap_unordered helper may still
        // be unwinding after its consumer is gone (it kills the tasks it started as it ends):
        // let the ready fibers run until only this one is left.
        for (auto& actor : actors) actor.kill();
        for (auto& actor : actors) actor.join();
        w.pool.kill();
        for (int spin = 0; spin < 100 && grove::hub::current().fiber_count() > 1; ++spin) {
          grove::this_fiber::yield();
          w.pool.kill();
        }
        REQUIRE(grove::hub::current().fiber_count() == 1);
        CHECK(w.pool.empty());
        CHECK(w.pool.free_slots() == slots);
        int unbalanced = 0;
        for (std::size_t id = 0; id < w.books.made.size(); ++id) {
          bool ok = w.books.made[id] == w.books.destroyed[id] && w.books.started[id] <= 1 &&
                    w.books.started[id] == w.books.unwound[id];
          if (!ok && unbalanced++ == 0) {
            INFO("member " << id << ": made " << w.books.made[id] << ", destroyed "
                           << w.books.destroyed[id] << ", started " << w.books.started[id]
                           << ", unwound " << w.books.unwound[id]);
            CHECK(ok);
          }
        }
        CHECK(unbalanced == 0);
      } catch (const grove::timeout_error&) {
        (void)world.release();
        FAIL("a kill() or join() did not return within 10 s");
      }
    }
  });
  MESSAGE(rounds << " rounds");
  CHECK(rounds >= 20);
}
