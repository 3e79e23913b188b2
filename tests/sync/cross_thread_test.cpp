// Promises of <grove/cross_thread.hpp>: events, futures, channels and queues shared between
// fibers of different hubs and plain threads, with kills and timeouts on both sides.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <ctime>
#include <functional>
#include <grove/cross_thread.hpp>  // first: the header is self-contained
#include <grove/grove.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../throws.hpp"

using namespace std::chrono_literals;

namespace {
/// What the grove::error `fn()` throws says ("" if none); outside CHECK, as throws().
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const grove::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a plain thread sets an event a fiber waits on") {
  grove::event ev(grove::cross_thread);
  grove::run([&] {
    std::thread setter([&] { ev.set(); });
    bool set = ev.wait_for(10s);
    CHECK(set);
    setter.join();
  });
}

TEST_CASE("a primitive made on a hub refuses other threads with a clear error") {
  grove::run([] {
    grove::event mine;
    grove::channel<int> ch(1);
    std::string what;
    std::thread([&] {
      try {
        mine.set();
      } catch (const grove::error& e) {
        what = e.what();
      }
      CHECK_THROWS_AS(ch.try_send(1), grove::error);
    }).join();
    CHECK(what.find("grove::cross_thread") != std::string::npos);
    CHECK_FALSE(mine.is_set());
  });
}

TEST_CASE("a plain thread's wait on a shared event times out") {
  grove::event ev(grove::cross_thread);
  auto start = std::chrono::steady_clock::now();
  bool set = ev.wait_for(30ms);
  CHECK_FALSE(set);
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
}

TEST_CASE("a plain thread and a fiber play ping-pong over unbuffered channels") {
  grove::channel<int> ping(0, grove::cross_thread), pong(0, grove::cross_thread);
  std::thread player([&] {
    while (auto v = ping.receive()) pong.send(*v + 1);
    pong.close();
  });
  int last = grove::run([&] {
    int v = 0;
    for (int i = 0; i < 2000; ++i) {
      ping.send(v);
      v = *pong.receive();
    }
    ping.close();
    bool more = pong.receive().has_value();
    CHECK_FALSE(more);
    return v;
  });
  player.join();
  CHECK(last == 2000);
}

TEST_CASE("fibers of two hubs play ping-pong over channels and events") {
  grove::channel<int> ping(0, grove::cross_thread), pong(0, grove::cross_thread);
  grove::event a_turn(grove::cross_thread), b_turn(grove::cross_thread);
  constexpr int rounds = 5000;
  std::thread b([&] {
    grove::run([&] {
      // Two fibers on hub B: one answers the channel, one the events.
      auto channels = grove::spawn([&] {
        while (auto v = ping.receive()) pong.send(*v * 2);
      });
      for (int i = 0; i < 200; ++i) {
        b_turn.wait();
        b_turn.clear();
        a_turn.set();
      }
      channels.join();
    });
  });
  long long sum = grove::run([&] {
    long long total = 0;
    for (int i = 0; i < rounds; ++i) {
      ping.send(i);
      total += *pong.receive();
    }
    ping.close();
    for (int i = 0; i < 200; ++i) {
      b_turn.set();
      bool my_turn = a_turn.wait_for(10s);
      CHECK(my_turn);
      a_turn.clear();
    }
    return total;
  });
  b.join();
  CHECK(sum == static_cast<long long>(rounds) * (rounds - 1));
}

TEST_CASE("kills and timeouts end cross-thread waits on both sides and lose nothing") {
  grove::channel<int> ch(0, grove::cross_thread), unread(0, grove::cross_thread);
  grove::event never(grove::cross_thread);
  std::thread other([&] {
    grove::run([&] {
      // Hub B: a timeout ends a wait nobody will serve; a killed sender has not sent.
      bool timed_out =
          grove_test::throws<grove::timeout_error>([&] { grove::with_timeout(20ms, [&] { never.wait(); }); });
      CHECK(timed_out);
      auto blocked_sender = grove::spawn([&] { unread.send(-1); });
      grove::this_fiber::sleep_for(20ms);
      blocked_sender.kill();
      blocked_sender.join();
      bool killed = grove_test::throws<grove::killed_error>([&] { blocked_sender.get(); });
      CHECK(killed);
      ch.send(7);
    });
  });
  grove::run([&] {
    // Hub A: a killed receiver has not received; the next one gets the value.
    auto doomed = grove::spawn([&] { return ch.receive(); });
    grove::this_fiber::yield();
    doomed.kill();
    bool killed = grove_test::throws<grove::killed_error>([&] { doomed.get(); });
    CHECK(killed);
    grove::timeout t(10s);
    auto v = ch.receive();
    REQUIRE(v.has_value());
    CHECK(*v == 7);
    CHECK_FALSE(unread.try_receive().has_value());  // the killed sender left nothing behind
    // A timeout on this side too, on a wait another thread could serve.
    bool timed_out =
        grove_test::throws<grove::timeout_error>([&] { grove::with_timeout(20ms, [&] { unread.receive(); }); });
    CHECK(timed_out);
  });
  other.join();
}

TEST_CASE("random kills on both hubs: every value whose send returned is received exactly once") {
  grove::channel<int> ch(0, grove::cross_thread);
  constexpr int senders = 8, per_sender = 200;
  std::vector<int> sent_ok;   // hub B's thread only
  std::vector<int> received;  // hub A's thread only
  std::atomic<bool> senders_done{false};
  std::thread b([&] {
    grove::run([&] {
      // The kills start once a value has crossed: before that, a slow start of the other
      // thread (TSan) could let the kills end every sender inside its first send.
      grove::event first_sent;
      std::vector<grove::fiber<void>> fibers;
      for (int s = 0; s < senders; ++s) {
        fibers.push_back(grove::spawn([&, s] {
          for (int i = 0; i < per_sender; ++i) {
            int v = s * per_sender + i;
            ch.send(v);
            sent_ok.push_back(v);
            first_sent.set();
          }
        }));
      }
      first_sent.wait();
      std::mt19937 dice(7);
      for (int round = 0; round < 100; ++round) {
        grove::this_fiber::sleep_for(100us);
        fibers[dice() % senders].kill();
      }
      for (auto& f : fibers) f.join();
      senders_done = true;
      ch.close();
    });
  });
  grove::run([&] {
    std::vector<grove::fiber<void>> takers;
    for (int t = 0; t < 4; ++t) {
      takers.push_back(grove::spawn([&] {
        while (auto v = ch.receive()) received.push_back(*v);
      }));
    }
    // Kill receivers at random too; each killed one is replaced, so the channel drains.
    std::mt19937 dice(11);
    for (int round = 0; round < 100 && !ch.closed(); ++round) {
      grove::this_fiber::sleep_for(100us);
      auto& victim = takers[dice() % takers.size()];
      victim.kill();
      victim.join();
      victim = grove::spawn([&] {
        while (auto v = ch.receive()) received.push_back(*v);
      });
    }
    for (auto& f : takers) f.join();
  });
  b.join();
  CHECK(senders_done);
  std::sort(sent_ok.begin(), sent_ok.end());
  std::sort(received.begin(), received.end());
  // A sender or receiver killed after the hand-off keeps it (the kill lands at its next wait):
  // what was sent is exactly what was received.
  CHECK(std::adjacent_find(received.begin(), received.end()) == received.end());
  CHECK(received == sent_ok);
  CHECK(sent_ok.size() > 0);
}

TEST_CASE("a future set on one hub wakes waiters on another hub and on a plain thread") {
  grove::promise<int> answer(grove::cross_thread);
  auto result = answer.get_future();
  std::thread plain([&] {
    int value = result.get();
    CHECK(value == 42);
  });
  std::thread hub([&] {
    grove::run([&] {
      int value = result.get();
      CHECK(value == 42);
    });
  });
  grove::run([&] {
    grove::this_fiber::sleep_for(10ms);
    answer.set_value(42);
  });
  plain.join();
  hub.join();
}

TEST_CASE("a plain thread puts into a queue that fibers of two hubs drain") {
  grove::queue<int> jobs(4, grove::cross_thread);
  std::atomic<long long> total{0};
  auto drain = [&] {
    grove::run([&] {
      try {
        for (;;) {
          total += jobs.get();
          jobs.task_done();
        }
      } catch (const grove::queue_closed&) {
      }
    });
  };
  std::thread a(drain), b(drain);
  for (int i = 1; i <= 1000; ++i) jobs.put(i);  // blocks this thread while the queue is full
  jobs.join();                                  // until every item is task_done()
  CHECK(jobs.unfinished_tasks() == 0);
  jobs.close();
  a.join();
  b.join();
  CHECK(total == 1000 * 1001 / 2);
}

TEST_CASE("wait_any and wait_all take shared events and futures set on another hub or thread") {
  grove::event ev(grove::cross_thread);
  grove::promise<int> answer(grove::cross_thread);
  grove::future<int> later = answer.get_future();
  grove::event go(grove::cross_thread);
  std::thread other([&] {
    grove::run([&] {
      go.wait();
      ev.set();
      grove::this_fiber::sleep_for(2ms);
      answer.set_value(42);
    });
  });
  grove::run([&] {
    grove::event local;
    bool any = grove::wait_any_for(5ms, ev, local, later).has_value();
    CHECK_FALSE(any);
    go.set();
    std::size_t first = grove::wait_any(local, ev);
    CHECK(first == 1);
    bool all = grove::wait_all_for(10s, ev, later);
    CHECK(all);
    int value = later.get();
    CHECK(value == 42);
    // A kill ends a wait_any on shared events; the nodes leave every queue.
    grove::event never(grove::cross_thread);
    auto victim = grove::spawn([&] { grove::wait_any(never, local); });
    grove::this_fiber::yield();
    victim.kill();
    bool ended = victim.join_for(10s);
    CHECK(ended);
    bool killed = grove_test::throws<grove::killed_error>([&] { victim.get(); });
    CHECK(killed);
  });
  other.join();
  // A plain thread waits too, blocking.
  grove::event from_hub(grove::cross_thread);
  std::thread setter([&] { grove::run([&] { from_hub.set(); }); });
  grove::event unset(grove::cross_thread);
  std::size_t first = grove::wait_any(unset, from_hub);
  CHECK(first == 1);
  setter.join();
}

TEST_CASE("wait_any over a dozen shared events (more locks than fit inline) set from another hub") {
  std::vector<std::unique_ptr<grove::event>> e;
  for (int i = 0; i < 12; ++i) e.push_back(std::make_unique<grove::event>(grove::cross_thread));
  std::thread other([&] { grove::run([&] { e[10]->set(); }); });
  std::optional<std::size_t> first = grove::run([&] {
    return grove::wait_any_for(10s, *e[0], *e[1], *e[2], *e[3], *e[4], *e[5], *e[6], *e[7], *e[8],
                               *e[9], *e[10], *e[11]);
  });
  other.join();
  CHECK(first == std::optional<std::size_t>(10));
}

TEST_CASE("many wait_any fibers on two hubs over shared events see every set") {
  constexpr int rounds = 300;
  grove::event a(grove::cross_thread), b(grove::cross_thread);
  std::atomic<int> woken{0};
  grove::channel<int> acks(0, grove::cross_thread), next(0, grove::cross_thread);
  std::vector<std::thread> hubs;
  for (int h = 0; h < 2; ++h) {
    hubs.emplace_back([&] {
      grove::run([&] {
        for (int i = 0; i < rounds; ++i) {
          bool any = grove::wait_any_for(10s, a, b).has_value();
          CHECK(any);
          ++woken;
          acks.send(i);
          (void)next.receive();  // both cleared
        }
      });
    });
  }
  grove::run([&] {
    for (int i = 0; i < rounds; ++i) {
      (i % 2 ? a : b).set();
      (void)acks.receive();
      (void)acks.receive();
      a.clear();
      b.clear();
      next.send(i);
      next.send(i);
    }
  });
  for (auto& t : hubs) t.join();
  CHECK(woken == 2 * rounds);
}

TEST_CASE("wait_any over a local and a shared event set at once by its hub and another: no hang") {
  // The local event's waker (a fiber of this hub) and the shared one's (another hub) race for
  // the multi-wait's one claim word, in every order the random yields make.
  constexpr int rounds = 1000;
  grove::channel<grove::event*> to_set(0, grove::cross_thread);
  grove::channel<int> done(0, grove::cross_thread);
  std::thread other([&] {
    grove::run([&] {
      std::mt19937 dice(3);
      while (auto ev = to_set.receive()) {
        for (int n = static_cast<int>(dice() % 3); n > 0; --n) grove::this_fiber::yield();
        (*ev)->set();
        done.send(0);
      }
    });
  });
  int missed = 0;
  grove::run([&] {
    std::mt19937 dice(5);
    for (int i = 0; i < rounds; ++i) {
      grove::event local;
      grove::event shared(grove::cross_thread);
      const int yields = static_cast<int>(dice() % 4);
      auto setter = grove::spawn([&] {
        for (int n = yields; n > 0; --n) grove::this_fiber::yield();
        local.set();
      });
      to_set.send(&shared);
      std::optional<std::size_t> first = grove::wait_any_for(10s, local, shared);
      (void)done.receive();  // the other hub has set it: `shared` may go
      setter.join();
      if (!first || !(*first == 0 ? local : shared).is_set()) ++missed;
    }
    to_set.close();
  });
  other.join();
  CHECK(missed == 0);
}

TEST_CASE("a shared event or queue destroyed under waiters of another hub: errors, no crash") {
  auto ev = std::make_unique<grove::event>(grove::cross_thread);
  auto q = std::make_unique<grove::queue<int>>(grove::cross_thread);
  grove::event other(grove::cross_thread);
  grove::semaphore about_to_wait(0, grove::cross_thread);
  grove::promise<grove::hub_ref> ref(grove::cross_thread);
  std::vector<std::string> errors;  // written on the hub's thread only
  std::thread hub([&] {
    grove::run([&] {
      ref.set_value(grove::hub::current().ref());
      auto on_event = grove::spawn([&] {
        about_to_wait.release();
        ev->wait();
      });
      auto on_any = grove::spawn([&] {
        about_to_wait.release();
        (void)grove::wait_any(other, *ev);
      });
      auto on_queue = grove::spawn([&] {
        about_to_wait.release();
        (void)q->get();
      });
      for (auto* f : {&on_event, &on_any, &on_queue}) {
        try {
          f->get();
        } catch (const grove::error& e) {
          errors.emplace_back(e.what());
        }
      }
    });
  });
  grove::hub_ref b = ref.get_future().get();
  for (int i = 0; i < 3; ++i) about_to_wait.acquire();
  // Each released right before its wait, with no suspension between: a callback posted to
  // their hub runs only once all three are suspended in their waits.
  grove::event all_waiting(grove::cross_thread);
  REQUIRE(b.post([&] { all_waiting.set(); }));
  all_waiting.wait();
  grove::run([&] {
    ev.reset();  // each returns once its waiters have left
    q.reset();
  });
  hub.join();
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].find("grove::event destroyed while a fiber waited on it") != std::string::npos);
  CHECK(errors[1].find("grove::event destroyed") != std::string::npos);
  CHECK(errors[2].find("grove::queue destroyed") != std::string::npos);
}

// Semaphores, mutexes and condition variables shared across threads ---------------------------

namespace {

/// Runs `body` on `hubs` hub threads and `threads` plain threads at once; joins them.
template <class Body>
void on_hubs_and_threads(int hubs, int threads, Body body) {
  std::vector<std::thread> all;
  for (int i = 0; i < hubs; ++i) all.emplace_back([&, i] { grove::run([&] { body(i, true); }); });
  for (int i = 0; i < threads; ++i) all.emplace_back([&, i] { body(hubs + i, false); });
  for (auto& t : all) t.join();
}

}  // namespace

TEST_CASE(
    "a shared semaphore admits at most its permits among fibers of two hubs and plain threads") {
  grove::semaphore slots(2, grove::cross_thread);
  std::atomic<int> inside{0}, most{0}, done{0};
  auto enter = [&] {
    int now = ++inside;
    for (int m = most; now > m && !most.compare_exchange_weak(m, now);) {
    }
    --inside;
    ++done;
  };
  on_hubs_and_threads(2, 2, [&](int, bool hub) {
    if (hub) {
      std::vector<grove::fiber<void>> fibers;
      for (int f = 0; f < 4; ++f) {
        fibers.push_back(grove::spawn([&] {
          for (int i = 0; i < 100; ++i) {
            slots.acquire();
            grove::this_fiber::yield();  // holds the permit across a wait
            enter();
            slots.release();
          }
        }));
      }
      for (auto& f : fibers) f.get();
    } else {
      for (int i = 0; i < 200; ++i) {
        slots.acquire();
        enter();
        slots.release();
      }
    }
  });
  CHECK(done == 2 * 4 * 100 + 2 * 200);
  CHECK(most <= 2);
  CHECK(slots.available() == 2);
}

TEST_CASE(
    "a shared semaphore's waits time out and honour kill across hubs; a killed waiter takes "
    "nothing") {
  grove::semaphore empty(0, grove::cross_thread);
  auto start = std::chrono::steady_clock::now();
  bool acquired = empty.try_acquire_for(20ms);  // a plain thread
  CHECK_FALSE(acquired);
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  grove::promise<grove::hub_ref> ref_ready(grove::cross_thread);
  grove::event stop(grove::cross_thread);
  std::thread other([&] {
    grove::run([&] {
      ref_ready.set_value(grove::hub::current().ref());
      stop.wait();
    });
  });
  grove::hub_ref b = ref_ready.get_future().get();
  grove::event waiting(grove::cross_thread);
  auto waiter = b.spawn([&] {
    bool acquired = empty.try_acquire_for(10ms);
    CHECK_FALSE(acquired);
    bool timed_out =
        grove_test::throws<grove::timeout_error>([&] { grove::with_timeout(10ms, [&] { empty.acquire(); }); });
    CHECK(timed_out);
    waiting.set();
    empty.acquire();  // killed here
  });
  grove::run([&] {
    waiting.wait();
    waiter.kill();
    bool ended = waiter.join_for(10s);
    CHECK(ended);
  });
  bool killed = grove_test::throws<grove::killed_error>([&] { waiter.get(); });
  CHECK(killed);
  empty.release();
  CHECK(empty.available() == 1);  // nobody took it: the killed waiter left the queue
  grove::bounded_semaphore bounded(1, grove::cross_thread);
  CHECK_THROWS_AS(bounded.release(), grove::error);
  stop.set();
  other.join();
}

TEST_CASE("a semaphore made on a hub refuses another thread with a clear error") {
  grove::run([] {
    grove::semaphore mine(1);
    std::thread([&] {
      CHECK_THROWS_WITH_AS(mine.try_acquire(), doctest::Contains("grove::cross_thread"),
                           grove::error);
      CHECK_THROWS_AS(mine.release(), grove::error);
    }).join();
    CHECK(mine.available() == 1);
  });
}

TEST_CASE("a shared mutex excludes fibers of two hubs and plain threads, FIFO, with RAII") {
  grove::mutex m(grove::cross_thread);
  long counter = 0;  // guarded by m: TSan checks it
  on_hubs_and_threads(2, 2, [&](int, bool hub) {
    if (hub) {
      std::vector<grove::fiber<void>> fibers;
      for (int f = 0; f < 3; ++f) {
        fibers.push_back(grove::spawn([&] {
          for (int i = 0; i < 100; ++i) {
            std::lock_guard lock(m);
            long seen = counter;
            grove::this_fiber::yield();  // holds the mutex across a wait
            counter = seen + 1;
          }
        }));
      }
      for (auto& f : fibers) f.get();
    } else {
      for (int i = 0; i < 200; ++i) {
        std::unique_lock lock(m);
        ++counter;
      }
    }
  });
  CHECK(counter == 2 * 3 * 100 + 2 * 200);
  CHECK_FALSE(m.locked());
}

TEST_CASE("a shared mutex: timed locks time out, a killed waiter never holds it, misuse throws") {
  grove::mutex m(grove::cross_thread);
  grove::event held(grove::cross_thread), release(grove::cross_thread);
  std::thread holder([&] {
    std::lock_guard lock(m);  // a plain thread holds it
    held.set();
    release.wait();
  });
  held.wait();
  CHECK(m.locked());
  CHECK_FALSE(m.try_lock());
  bool locked = m.try_lock_for(10ms);  // another plain thread
  CHECK_FALSE(locked);
  CHECK_THROWS_AS(m.unlock(), grove::error);  // not the holder
  grove::run([&] {
    bool locked = m.try_lock_for(10ms);
    CHECK_FALSE(locked);
    bool timed_out =
        grove_test::throws<grove::timeout_error>([&] { grove::with_timeout(10ms, [&] { m.lock(); }); });
    CHECK(timed_out);
    std::atomic<bool> got{false};
    auto doomed = grove::spawn([&] {
      std::lock_guard lock(m);
      got = true;
    });
    grove::this_fiber::yield();  // doomed waits in the queue
    doomed.kill();
    bool killed = grove_test::throws<grove::killed_error>([&] { doomed.get(); });
    CHECK(killed);
    CHECK_FALSE(got);
    release.set();
    std::unique_lock lock(m);  // handed over by the plain thread: the killed waiter took nothing
    CHECK(lock.owns_lock());
    bool refused = grove_test::throws<grove::error>([&] { m.lock(); });
    CHECK(refused);  // not recursive
  });
  holder.join();
  CHECK_FALSE(m.locked());
}

TEST_CASE("a shared condition variable hands work from a plain thread to fibers of two hubs") {
  grove::mutex m(grove::cross_thread);
  grove::condition_variable changed(grove::cross_thread);
  std::deque<int> items;  // guarded by m
  bool closed = false;
  std::atomic<long> sum{0};
  std::thread producer([&] {
    for (int i = 1; i <= 300; ++i) {
      {
        std::lock_guard lock(m);
        items.push_back(i);
      }
      changed.notify_one();
    }
    std::lock_guard lock(m);
    closed = true;
    changed.notify_all();
  });
  on_hubs_and_threads(2, 1, [&](int, bool hub) {
    auto consume = [&] {
      std::unique_lock lock(m);
      for (;;) {
        changed.wait(lock, [&] { return !items.empty() || closed; });
        if (items.empty()) return;
        sum += items.front();
        items.pop_front();
      }
    };
    if (hub) {
      auto a = grove::spawn(consume), b = grove::spawn(consume);
      a.get();
      b.get();
    } else {
      consume();
    }
  });
  producer.join();
  CHECK(sum == 300 * 301 / 2);
}

TEST_CASE(
    "a shared condition variable's wait times out, and a killed waiter holds the mutex again") {
  grove::mutex m(grove::cross_thread);
  grove::condition_variable changed(grove::cross_thread);
  {
    std::unique_lock lock(m);  // a plain thread
    std::cv_status status = changed.wait_for(lock, 10ms);
    CHECK(status == std::cv_status::timeout);
    CHECK(lock.owns_lock());
  }
  grove::run([&] {
    std::atomic<bool> held_when_killed{false};
    grove::event timed_out(grove::cross_thread);
    auto waiter = grove::spawn([&] {
      std::unique_lock lock(m);
      bool changed_now = changed.wait_for(lock, 10ms, [] { return false; });
      CHECK_FALSE(changed_now);
      timed_out.set();
      try {
        changed.wait(lock);
      } catch (const grove::fiber_killed&) {
        held_when_killed = lock.owns_lock() && m.locked();
        throw;
      }
    });
    timed_out.wait();
    // Hold the mutex from a plain thread (which gets it once the waiter is queued in wait())
    // while the kill lands: the waiter must wait for it.
    grove::event held(grove::cross_thread), release(grove::cross_thread);
    std::thread holder([&] {
      std::lock_guard lock(m);
      held.set();
      release.wait();
    });
    held.wait();
    waiter.kill();
    grove::this_fiber::sleep_for(10ms);
    CHECK_FALSE(waiter.ready());  // still re-locking: the plain thread holds the mutex
    release.set();
    bool ended = waiter.join_for(10s);
    CHECK(ended);
    holder.join();
    CHECK(held_when_killed);
    CHECK_FALSE(m.locked());  // its unique_lock unlocked it on the way out
  });
}

TEST_CASE(
    "destroying a shared condition variable, semaphore or mutex under waiters wakes them with an "
    "error") {
  // A condition variable: a fiber of another hub and a plain thread wait. Each is known to be
  // queued once this thread can take the mutex: wait() releases it only with the variable's
  // lock held, which the destructor needs.
  grove::mutex m(grove::cross_thread);
  auto changed = std::make_unique<grove::condition_variable>(grove::cross_thread);
  std::string fiber_error, thread_error;
  grove::event about_to_wait(grove::cross_thread);
  std::thread hub_b([&] {
    grove::run([&] {
      std::unique_lock lock(m);
      about_to_wait.set();
      try {
        changed->wait(lock);
      } catch (const grove::error& e) {
        fiber_error = e.what();
        CHECK(lock.owns_lock());
      }
    });
  });
  about_to_wait.wait();
  { std::lock_guard taken(m); }  // the hub's fiber is queued now
  about_to_wait.clear();
  std::thread plain([&] {
    std::unique_lock lock(m);
    about_to_wait.set();
    try {
      changed->wait(lock);
    } catch (const grove::error& e) {
      thread_error = e.what();
    }
  });
  about_to_wait.wait();
  { std::lock_guard taken(m); }  // the plain thread is queued now
  changed.reset();               // returns once both have left it
  hub_b.join();
  plain.join();
  CHECK(fiber_error.find("grove::condition_variable destroyed while a fiber waited") == 0);
  CHECK(thread_error.find("grove::condition_variable destroyed while a fiber waited") == 0);

  // A semaphore and a mutex, with a waiter of the destroying fiber's own hub (it runs while the
  // destructor waits for it to leave).
  grove::run([] {
    auto slots = std::make_unique<grove::semaphore>(0, grove::cross_thread);
    auto lock = std::make_unique<grove::mutex>(grove::cross_thread);
    lock->lock();
    auto on_slots = grove::spawn([&] { slots->acquire(); });
    auto on_lock = grove::spawn([&] { lock->lock(); });
    grove::this_fiber::yield();  // both wait now
    slots.reset();
    std::string slots_error = error_of([&] { on_slots.get(); });
    CHECK(slots_error.find("grove::semaphore destroyed") != std::string::npos);
    // (destroying a held mutex: the holder is this fiber, which never unlocks it)
    lock.reset();
    std::string lock_error = error_of([&] { on_lock.get(); });
    CHECK(lock_error.find("grove::mutex destroyed") != std::string::npos);
  });
}


namespace {

/// A pause before answering, picked at random so that the peer hub is caught in every state:
/// none (it is still spinning for the answer), a busy pause longer than the hub's spin (30 us:
/// it has gone to sleep in epoll), a yield, or a grove sleep (this hub sleeps on a timer while
/// the peer's wake comes in). `kinds` 2: the first two only, so that no timer ever wakes a hub
/// and a lost wake-up cannot hide behind one.
void random_pause(std::mt19937& dice, unsigned kinds = 4) {
  switch (dice() % kinds) {
    case 0:
      break;
    case 1: {
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20 + dice() % 80);
      while (std::chrono::steady_clock::now() < until) {
      }
      break;
    }
    case 2:
      grove::this_fiber::yield();
      break;
    default:
      grove::this_fiber::sleep_for(std::chrono::microseconds(dice() % 200));
  }
}

/// Sends `v`; one time in 8 first under a tiny timeout that may race the peer's wake (a send
/// that timed out handed nothing over: it is retried). A lost wake-up ends in the 10 s guard.
void send_racing_timeouts(grove::channel<int>& ch, int v, std::mt19937& dice, int& timeouts) {
  while (dice() % 8 == 0) {
    try {
      grove::with_timeout(std::chrono::microseconds(10 + dice() % 300), [&] { ch.send(v); });
      return;
    } catch (const grove::timeout_error&) {
      ++timeouts;
    }
  }
  grove::timeout guard(10s);
  ch.send(v);
}

int receive_racing_timeouts(grove::channel<int>& ch, std::mt19937& dice, int& timeouts) {
  while (dice() % 8 == 0) {
    try {
      auto v = grove::with_timeout(std::chrono::microseconds(10 + dice() % 300),
                                   [&] { return ch.receive(); });
      return v.value_or(-1);
    } catch (const grove::timeout_error&) {
      ++timeouts;
    }
  }
  grove::timeout guard(10s);
  return ch.receive().value_or(-1);
}

/// Until `done`: a fiber waits on `never` (another thread sets it now and then) and is killed
/// after a random pause, so that kills, stale cross-thread wakes and the hub's count of remote
/// waits churn while the ping-pong runs.
void churn(grove::event& never, grove::event& peer_never, std::atomic<bool>& done,
           std::mt19937 dice, int& kills) {
  while (!done) {
    auto victim = grove::spawn([&] { never.wait(); });
    random_pause(dice);
    if (dice() % 4 == 0) {
      peer_never.set();
      peer_never.clear();
    }
    victim.kill();
    victim.join();
    ++kills;
  }
}

}  // namespace

TEST_CASE(
    "no wake-up is lost between two hubs, whether the peer spins, sleeps in epoll or on a timer") {
  // Channel and event ping-pong between two hubs, each side pausing at random before it
  // answers, some waits racing tiny timeouts, and a fiber killed in a cross-thread wait now and
  // then on both hubs. Every value arrives once and in order; every wait of the ping-pong ends
  // well inside its 10 s guard.
#if defined(__SANITIZE_THREAD__)
  // TSan looks for races, not load: 3,000 rounds took 114-285 s of the 180 s limit there.
  constexpr int rounds = 600;
#else
  constexpr int rounds = 3000;
#endif
  grove::channel<int> ping(0, grove::cross_thread), pong(0, grove::cross_thread);
  grove::event a_turn(grove::cross_thread), b_turn(grove::cross_thread);
  grove::event never_a(grove::cross_thread), never_b(grove::cross_thread);
  std::string failure_b;
  int timeouts_b = 0, kills_b = 0, wrong_b = 0;
  std::thread b([&] {
    try {
      grove::run([&] {
        std::atomic<bool> done{false};
        auto churner = grove::spawn(churn, std::ref(never_b), std::ref(never_a), std::ref(done),
                                    std::mt19937(3), std::ref(kills_b));
        std::mt19937 dice(2);
        for (int i = 0; i < rounds; ++i) {
          int v = receive_racing_timeouts(ping, dice, timeouts_b);
          if (v != i) ++wrong_b;
          random_pause(dice);
          send_racing_timeouts(pong, v + 1, dice, timeouts_b);
          if (i % 10 == 9) {
            if (!b_turn.wait_for(10s)) throw grove::error("b_turn lost");
            b_turn.clear();
            random_pause(dice);
            a_turn.set();
          }
        }
        done = true;
        churner.join();
      });
    } catch (const std::exception& e) {
      failure_b = e.what();
    }
  });
  std::string failure_a;
  int timeouts_a = 0, kills_a = 0, wrong_a = 0;
  try {
    grove::run([&] {
      std::atomic<bool> done{false};
      auto churner = grove::spawn(churn, std::ref(never_a), std::ref(never_b), std::ref(done),
                                  std::mt19937(5), std::ref(kills_a));
      std::mt19937 dice(1);
      for (int i = 0; i < rounds; ++i) {
        random_pause(dice);
        send_racing_timeouts(ping, i, dice, timeouts_a);
        if (receive_racing_timeouts(pong, dice, timeouts_a) != i + 1) ++wrong_a;
        if (i % 10 == 9) {
          random_pause(dice);
          b_turn.set();
          if (!a_turn.wait_for(10s)) throw grove::error("a_turn lost");
          a_turn.clear();
        }
      }
      done = true;
      churner.join();
    });
  } catch (const std::exception& e) {
    failure_a = e.what();
  }
  b.join();
  CHECK(failure_a == "");
  CHECK(failure_b == "");
  CHECK(wrong_a == 0);
  CHECK(wrong_b == 0);
  CHECK(kills_a > 0);
  CHECK(kills_b > 0);
  MESSAGE("timeouts that raced a wake: " << timeouts_a + timeouts_b
                                         << ", kills in remote waits: " << kills_a + kills_b);
}

TEST_CASE("no wake-up is lost between two hubs when nothing else could wake them") {
  // Only the ping-pong, pauses without timers: a wake lost in the hub's announce-then-sleep
  // handshake would leave a hub asleep until its 10 s guard, and fail the test.
  constexpr int rounds = 6000;
  grove::channel<int> ping(0, grove::cross_thread), pong(0, grove::cross_thread);
  std::string failure_b;
  std::thread b([&] {
    try {
      grove::run([&] {
        std::mt19937 dice(4);
        for (int i = 0; i < rounds; ++i) {
          grove::timeout guard(10s);
          auto v = ping.receive();
          random_pause(dice, 2);
          pong.send(v.value_or(-1) + 1);
        }
      });
    } catch (const std::exception& e) {
      failure_b = e.what();
    }
  });
  std::string failure_a;
  int wrong = 0;
  try {
    grove::run([&] {
      std::mt19937 dice(6);
      for (int i = 0; i < rounds; ++i) {
        grove::timeout guard(10s);
        random_pause(dice, 2);
        ping.send(i);
        if (pong.receive().value_or(-1) != i + 1) ++wrong;
      }
    });
  } catch (const std::exception& e) {
    failure_a = e.what();
  }
  b.join();
  CHECK(failure_a == "");
  CHECK(failure_b == "");
  CHECK(wrong == 0);
}

TEST_CASE("a hub waiting on another thread burns almost no CPU while it waits") {
  // The hub spins at most ~30 us for a remote wake before it sleeps in epoll: a 300 ms wait
  // costs next to nothing, where a hub that kept spinning would burn the whole 300 ms.
  grove::event ev(grove::cross_thread);
  std::thread setter;
  double cpu_ms = grove::run([&] {
    auto cpu_now = [] {
      timespec t{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
      return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
    };
    double before = cpu_now();
    setter = std::thread([&] {
      std::this_thread::sleep_for(300ms);
      ev.set();
    });
    bool set = ev.wait_for(10s);
    CHECK(set);
    return cpu_now() - before;
  });
  setter.join();
  CHECK(cpu_ms < 50.0);
}

TEST_CASE("a hub kept busy by a cross-thread ping-pong still runs its timers") {
  // The ping-pong's wakes arrive while the hub spins, so it never blocks in its reactor; its
  // timers (and I/O) must still get their turn.
  grove::channel<int> ping(0, grove::cross_thread), pong(0, grove::cross_thread);
  std::thread b([&] {
    grove::run([&] {
      while (auto v = ping.receive()) pong.send(*v);
    });
  });
  bool ticked = false;
  grove::run([&] {
    auto ticker = grove::spawn([&] {
      for (int i = 0; i < 20; ++i) grove::this_fiber::sleep_for(1ms);
      ticked = true;
    });
    auto give_up = std::chrono::steady_clock::now() + 10s;
    for (int i = 0; !ticked && std::chrono::steady_clock::now() < give_up; ++i) {
      ping.send(i);
      pong.receive();
    }
    ping.close();
    ticker.join();
  });
  b.join();
  CHECK(ticked);
}

// A hub that is ending ------------------------------------------------------------------------

namespace {

/// Waits (bounded) until the hub behind `ref` refuses new tasks: it has begun to end.
bool wait_until_refusing(const grove::hub_ref& ref) {
  auto until = std::chrono::steady_clock::now() + 10s;
  while (ref.post([] {})) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("a hub that has begun to end still takes the wake of a fiber whose wait a kill cannot end") {
  grove::event ev(grove::cross_thread);
  grove::promise<grove::hub_ref> ref_ready(grove::cross_thread);
  std::atomic<bool> wait_ended{false};
  std::thread a([&] {
    grove::run([&] {
      ref_ready.set_value(grove::hub::current().ref());
      grove::spawn([&] {
        grove::this_fiber::shield s;  // the kill at the hub's end waits for the shield
        ev.wait();
        wait_ended = true;
      });
      grove::this_fiber::yield();  // it waits on the shared event now
    });                            // main returns: the hub begins to end and kills it
  });
  grove::hub_ref ref = ref_ready.get_future().get();
  bool refusing = wait_until_refusing(ref);
  ev.set();   // before: refused by the ending hub, which then waited forever
  a.join();
  CHECK(refusing);
  CHECK(wait_ended);
}

TEST_CASE("a plain thread sends while the receiving hub ends: every value sent is received once") {
  // The receivers are killed by their hub's end while the thread hands them values: a value
  // handed over before the kill landed is kept (the kill is raised at the next wait), none is
  // lost or handed twice, and nothing touches the ended hub.
  long long total_sent = 0;
  for (int round = 0; round < 100; ++round) {
    grove::channel<int> ch(0, grove::cross_thread);
    std::atomic<int> received{0};
    std::atomic<bool> hub_done{false};
    grove::event receiving(grove::cross_thread);
    std::thread hub([&] {
      grove::run([&] {
        for (int f = 0; f < 3; ++f) {
          grove::spawn([&] {
            for (;;) {
              (void)ch.receive();
              ++received;
            }
          });
        }
        grove::this_fiber::yield();  // all three wait in receive()
        receiving.set();
        for (int n = round % 4; n > 0; --n) grove::this_fiber::yield();
      });  // main returns: the hub ends and kills the receivers
      hub_done = true;
    });
    receiving.wait();
    int sent = 0;
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!hub_done && std::chrono::steady_clock::now() < give_up) {
      if (ch.try_send(sent)) ++sent;
    }
    hub.join();
    REQUIRE(received == sent);
    total_sent += sent;
  }
  MESSAGE("values handed to receivers as their hub ended: " << total_sent);
}

TEST_CASE("a fiber killed at its hub's end relocks a shared mutex another thread releases") {
  grove::mutex m(grove::cross_thread);
  grove::condition_variable cv(grove::cross_thread);
  grove::promise<grove::hub_ref> ref_ready(grove::cross_thread);
  grove::event waiting(grove::cross_thread);
  std::atomic<bool> unwound_holding{false};
  std::thread a([&] {
    grove::run([&] {
      ref_ready.set_value(grove::hub::current().ref());
      grove::spawn([&] {
        std::unique_lock lock(m);
        struct probe {
          std::unique_lock<grove::mutex>& lock;
          std::atomic<bool>& flag;
          ~probe() { flag = lock.owns_lock(); }
        } p{lock, unwound_holding};
        waiting.set();
        cv.wait(lock);  // killed here; relocks m as it unwinds
      });
      waiting.wait();
    });
  });
  grove::hub_ref ref = ref_ready.get_future().get();
  waiting.wait();
  m.lock();  // the plain thread holds the mutex while the hub begins to end
  bool refusing = wait_until_refusing(ref);
  m.unlock();  // hands it to the unwinding fiber if it queued already: a wake into the ending hub
  // (if the kill has not reached it yet, it relocks a free mutex: the same end, no wake)
  a.join();
  CHECK(refusing);
  CHECK(unwound_holding);
}

TEST_CASE("more fibers wait than their hub watches, and timeouts race the wakes: nothing is lost") {
  // A hub polls the wake flags of a few waiters (4); the others are woken through its inbox,
  // each waiter being itself the posted item. Short timeouts race the wakes: a waiter whose
  // timeout came first leaves only after its hub has run the item on its stack.
  constexpr int receivers = 12, values = 3000;
  grove::channel<int> ch(0, grove::cross_thread);
  std::thread sender([&] {
    grove::run([&] {
      for (int i = 0; i < values; ++i) {
        grove::timeout guard(10s);
        ch.send(i);
      }
      ch.close();
    });
  });
  std::vector<int> got;
  grove::run([&] {
    std::vector<grove::fiber<void>> fibers;
    for (int r = 0; r < receivers; ++r) {
      fibers.push_back(grove::spawn([&, r] {
        std::mt19937 dice(static_cast<unsigned>(r));
        for (int attempts = 0; attempts < 1'000'000; ++attempts) {
          std::optional<int> v;
          try {
            v = grove::with_timeout(std::chrono::microseconds(dice() % 200),
                                    [&] { return ch.receive(); });
          } catch (const grove::timeout_error&) {
            continue;
          }
          if (!v) return;
          got.push_back(*v);
        }
      }));
    }
    for (auto& f : fibers) f.join();
  });
  sender.join();
  std::sort(got.begin(), got.end());
  REQUIRE(got.size() == static_cast<std::size_t>(values));
  for (int i = 0; i < values; ++i) CHECK(got[static_cast<std::size_t>(i)] == i);
}

TEST_CASE(
    "a cross-hub hand-off raced by timeouts loses nothing, and the channel may be destroyed as "
    "soon as the other side's call returns") {
  // Whatever a served waiter still does after its partner's call returned (re-take the lock,
  // count itself out) must not touch a channel its partner destroys at once (ASan: no use after
  // free), and a timeout racing the hand-off either wins (nothing taken) or loses (the value
  // kept): never both. Both directions: a waiting receiver, a waiting sender.
  constexpr int rounds = 2000;
  grove::channel<grove::channel<int>*> next(0, grove::cross_thread);
  std::vector<int> got;   // hub B's thread only
  int timeouts_lost = 0;  // hub B: a waiting call whose timeout fired before it was served
  std::thread b([&] {
    grove::run([&] {
      std::mt19937 dice(3);
      while (auto ch = next.receive()) {
        grove::channel<int>& c = **ch;
        const bool receives = got.size() % 2 == 0;
        for (int attempts = 0; attempts < 100'000; ++attempts) {
          auto patience = std::chrono::microseconds(dice() % 40);
          try {
            if (receives) {
              auto v = grove::with_timeout(patience, [&] { return c.receive(); });
              REQUIRE(v.has_value());
              got.push_back(*v);
            } else {
              grove::with_timeout(patience, [&] { c.send(-1); });
              got.push_back(-1);
            }
            break;
          } catch (const grove::timeout_error&) {
            ++timeouts_lost;
          }
        }
      }
    });
  });
  int round = 0;
  grove::run([&] {
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    for (; round < rounds && std::chrono::steady_clock::now() < give_up; ++round) {
      auto c = std::make_unique<grove::channel<int>>(0, grove::cross_thread);
      grove::timeout guard(10s);
      next.send(c.get());
      if (round % 2 == 0) {
        // Waits (on this hub) for B's receive, sometimes behind a pause so that B waits first.
        if (round % 4 == 0) grove::this_fiber::sleep_for(std::chrono::microseconds(round % 30));
        c->send(round);
      } else {
        if (round % 4 == 1) grove::this_fiber::sleep_for(std::chrono::microseconds(round % 30));
        auto v = c->receive();
        REQUIRE(v.has_value());
        CHECK(*v == -1);
      }
      c.reset();  // the served side on hub B may still be on its way out
    }
    next.close();
  });
  b.join();
  REQUIRE(got.size() == static_cast<std::size_t>(round));
  for (int i = 0; i < round; ++i) {
    CHECK(got[static_cast<std::size_t>(i)] == (i % 2 == 0 ? i : -1));
  }
  CHECK(round > 100);
  MESSAGE("rounds: " << round << ", waits that timed out before a hand-off: " << timeouts_lost);
}

// A hand-off whose copy throws, then the channel's end ----------------------------------------

namespace {

/// An item whose copy and move throw while `armed` if it is poisoned (a negative value): the
/// hand-off of it fails, and its giver or taker is told to go round again (handoff::retry).
struct fragile {
  static inline std::atomic<bool> armed{false};
  int value = 0;
  explicit fragile(int v) noexcept : value(v) {}
  fragile(const fragile& o) : value(o.value) { check(o); }
  fragile(fragile&& o) : value(o.value) { check(o); }
  fragile& operator=(const fragile&) = default;
  static void check(const fragile& o) {
    if (o.value < 0 && armed.load()) throw std::runtime_error("fragile: copy failed");
  }
};

/// What a wait that a destroyed channel should end came to.
std::string outcome_of(const std::function<void()>& wait) {
  try {
    grove::timeout guard(3s);  // before the fix: the wait went round and waited until this
    wait();
    return "returned";
  } catch (const grove::timeout_error&) {
    return "timed out";
  } catch (const grove::error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("unexpected: ") + e.what();
  }
}

/// With the hand-off armed to fail, takes from `ch` (the copy throws: its giver is told to
/// retry), then destroys `ch`. True if the copy threw.
bool fail_receive_then_destroy(grove::channel<fragile>* ch) {
  bool threw = false;
  fragile::armed = true;
  try {
    (void)ch->receive();
  } catch (const std::runtime_error&) {
    threw = true;
  }
  fragile::armed = false;
  delete ch;
  return threw;
}

}  // namespace

TEST_CASE(
    "a sender whose hand-off threw does not queue again in a shared channel being destroyed") {
  // Same hub, so the order is fixed: the sender is told to retry, the channel's destructor
  // starts before the sender runs again (it lets this hub's fibers run while it waits for its
  // waiters to leave), and only then does the sender resume. Before the fix it went round,
  // queued in the dying channel, and waited until its timeout (and the destructor with it).
  grove::run([] {
    auto* ch = new grove::channel<fragile>(0, grove::cross_thread);
    std::string outcome;
    auto sender = grove::spawn([&] {
      const fragile poisoned(-1);
      outcome = outcome_of([&] { ch->send(poisoned); });
    });
    grove::this_fiber::yield();  // the sender waits in send()
    bool threw = fail_receive_then_destroy(ch);
    sender.join();
    CHECK(threw);
    CHECK(outcome.find("grove::channel destroyed while a fiber waited on it") != std::string::npos);
  });
}

TEST_CASE(
    "a receiver whose hand-off threw does not queue again in a shared channel being destroyed") {
  grove::run([] {
    auto* ch = new grove::channel<fragile>(0, grove::cross_thread);
    std::string outcome;
    auto receiver = grove::spawn([&] { outcome = outcome_of([&] { (void)ch->receive(); }); });
    grove::this_fiber::yield();  // the receiver waits in receive()
    bool threw = false;
    fragile::armed = true;
    try {
      const fragile poisoned(-1);
      ch->send(poisoned);  // the copy into the receiver throws: it is told to retry
    } catch (const std::runtime_error&) {
      threw = true;
    }
    fragile::armed = false;
    delete ch;
    receiver.join();
    CHECK(threw);
    CHECK(outcome.find("grove::channel destroyed while a fiber waited on it") != std::string::npos);
  });
}

TEST_CASE(
    "a select whose send case's hand-off threw does not poll a shared channel being destroyed") {
  grove::run([] {
    auto* ch = new grove::channel<fragile>(0, grove::cross_thread);
    std::string outcome;
    auto selecter = grove::spawn([&] {
      outcome = outcome_of([&] { (void)grove::select(grove::on_send(*ch, fragile(-1))); });
    });
    grove::this_fiber::yield();  // the select waits
    bool threw = fail_receive_then_destroy(ch);
    selecter.join();
    CHECK(threw);
    CHECK(outcome.find("grove::channel destroyed while a fiber waited on it") != std::string::npos);
  });
}

TEST_CASE(
    "a sender on another hub whose hand-off threw leaves a shared channel destroyed at once") {
  // Across threads the sender may go round before or after the destructor begins: either way
  // it must leave with the channel's error, never wait in (or touch) a channel that is gone.
  constexpr int rounds = 200;
  grove::channel<grove::channel<fragile>*> next(0, grove::cross_thread);
  grove::semaphore waiting(0, grove::cross_thread);
  grove::promise<grove::hub_ref> ref(grove::cross_thread);
  std::vector<std::string> outcomes;  // hub B's thread only
  std::thread b([&] {
    grove::run([&] {
      ref.set_value(grove::hub::current().ref());
      while (auto ch = next.receive()) {
        const fragile poisoned(-1);
        waiting.release();  // right before the wait: the receive below may find it queued
        outcomes.push_back(outcome_of([&] { (*ch)->send(poisoned); }));
      }
    });
  });
  int copies_threw = 0;
  grove::run([&] {
    grove::hub_ref hub_b = ref.get_future().get();
    for (int round = 0; round < rounds; ++round) {
      auto* ch = new grove::channel<fragile>(0, grove::cross_thread);
      next.send(ch);
      waiting.acquire();
      // Released right before the send's wait, with no suspension between: a callback posted
      // to hub B runs only once the sender waits in the channel.
      grove::event queued(grove::cross_thread);
      REQUIRE(hub_b.post([&] { queued.set(); }));
      queued.wait();
      if (fail_receive_then_destroy(ch)) ++copies_threw;
    }
    next.close();
  });
  b.join();
  CHECK(copies_threw == rounds);
  REQUIRE(outcomes.size() == static_cast<std::size_t>(rounds));
  int wrong = 0;
  for (const auto& o : outcomes) {
    wrong += o.find("grove::channel destroyed while a fiber waited on it") == std::string::npos;
  }
  CHECK(wrong == 0);
}
