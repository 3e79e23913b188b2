// Promises of <grove/select.hpp>.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/select.hpp>  // first: the header is self-contained
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "stress.hpp"
#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("select takes one ready case and leaves the other untouched") {
  grove::run([] {
    grove::channel<int> a(1);
    grove::channel<int> b(1);
    a.send(1);
    b.send(2);
    int got = 0;
    auto taken = grove::select(grove::on_receive(b, [&](int v) { got = v; }),
                               grove::on_receive(a, [&](int v) { got = v; }));
    CHECK(got == (taken == 0 ? 2 : 1));
    CHECK(a.size() + b.size() == 1);  // the other is untouched
  });
}

namespace {

/// Runs `selects` selects over `ready` channels that always hold a value and one that never
/// does (its case in the middle), refilling the one taken; returns how often each ready case
/// was taken.
std::vector<int> count_taken(std::vector<std::unique_ptr<grove::channel<int>>>& ready,
                             grove::channel<int>& never, int selects) {
  std::vector<int> taken(3, 0);
  for (auto& ch : ready) ch->send(0);
  for (int i = 0; i < selects; ++i) {
    std::size_t c = grove::select(grove::on_receive(*ready[0]), grove::on_receive(never),
                                  grove::on_receive(*ready[1]), grove::on_receive(*ready[2]));
    std::size_t which = c == 0 ? 0 : c - 1;
    ++taken[which];
    ready[which]->send(0);
  }
  return taken;
}

}  // namespace

TEST_CASE("no ready case starves: select picks among the ready ones at random, as Go does") {
  constexpr int selects = 3000;
  auto fair = [](const std::vector<int>& taken) {
    // Each of the 3 ready cases is taken with a probability of 1/3: 1,000 times expected, with
    // a standard deviation of 26; half of that is far below any bad luck.
    for (int n : taken) CHECK(n > selects / 6);
  };
  grove::run([&] {
    std::vector<std::unique_ptr<grove::channel<int>>> ready;
    for (int i = 0; i < 3; ++i) ready.push_back(std::make_unique<grove::channel<int>>(1));
    grove::channel<int> never;
    fair(count_taken(ready, never, selects));
  });
  // The same over channels shared across threads (the multi_lock path).
  std::vector<std::unique_ptr<grove::channel<int>>> ready;
  for (int i = 0; i < 3; ++i) {
    ready.push_back(std::make_unique<grove::channel<int>>(1, grove::cross_thread));
  }
  grove::channel<int> never(0, grove::cross_thread);
  grove::run([&] { fair(count_taken(ready, never, selects)); });
}

TEST_CASE("a case that only looks ready (its receiver was killed, not yet gone) is not taken") {
  grove::run([] {
    for (int round = 0; round < 40; ++round) {
      grove::channel<int> ch;       // unbuffered: ready to send only while a receiver waits
      grove::channel<int> room(1);  // ready to send
      auto receiver = grove::spawn([&] { (void)ch.receive(); });
      grove::this_fiber::yield();  // it waits in receive()
      receiver.kill();             // woken; its node stays queued until it runs
      auto taken = grove::select(grove::on_send(ch, 1), grove::on_send(room, 2));
      CHECK(taken == 1);
      CHECK(room.size() == 1);
      receiver.join();
      auto again = grove::spawn([&] { (void)ch.receive(); });
      grove::this_fiber::yield();
      again.kill();
      // `room` is full now: only the stale case looks ready, and the default is taken.
      auto fallback =
          grove::select(grove::on_send(ch, 1), grove::on_send(room, 2), grove::on_default());
      CHECK(fallback == 2);
      again.join();
    }
  });
}

TEST_CASE("select waits for whichever channel becomes ready first") {
  grove::run([] {
    grove::channel<int> a;
    grove::channel<std::string> b;
    auto sender = grove::spawn([&] {
      grove::this_fiber::sleep_for(2ms);
      b.send("late");
    });
    std::string got;
    auto taken =
        grove::select(grove::on_receive(a), grove::on_receive(b, [&](std::string s) { got = s; }));
    CHECK(taken == 1);
    CHECK(got == "late");
    sender.join();
  });
}

TEST_CASE("on_default is taken when nothing is ready, after when nothing becomes ready in time") {
  grove::run([] {
    grove::channel<int> ch;
    bool defaulted = false;
    std::size_t chosen =
        grove::select(grove::on_receive(ch), grove::on_default([&] { defaulted = true; }));
    CHECK(chosen == 1);
    CHECK(defaulted);
    bool timed_out = false;
    auto start = std::chrono::steady_clock::now();
    auto taken = grove::select(grove::on_receive(ch), grove::after(50ms),
                               grove::after(5ms, [&] { timed_out = true; }));
    CHECK(taken == 2);  // the earliest timer
    CHECK(timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 5ms);
    chosen = grove::select(grove::on_receive(ch), grove::after(0ms));
    CHECK(chosen == 1);
  });
}

TEST_CASE("a send case hands its value to a receiver, now or when one comes") {
  grove::run([] {
    grove::channel<int> ch;
    int got = 0;
    auto receiver = grove::spawn([&] { got = *ch.receive(); });
    grove::this_fiber::yield();
    bool sent = false;
    std::size_t chosen =
        grove::select(grove::on_send(ch, 5, [&] { sent = true; }), grove::on_default());
    CHECK(chosen == 0);
    CHECK(sent);
    receiver.join();
    CHECK(got == 5);
    auto late = grove::spawn([&] {
      grove::this_fiber::sleep_for(2ms);
      got = *ch.receive();
    });
    chosen = grove::select(grove::on_send(ch, 6), grove::after(10s));
    CHECK(chosen == 0);
    late.join();
    CHECK(got == 6);
  });
}

TEST_CASE("exactly one case happens: the other senders keep waiting with their values") {
  grove::run([] {
    grove::channel<int> a;
    grove::channel<int> b;
    auto to_a = grove::spawn([&] { a.send(1); });
    auto to_b = grove::spawn([&] { b.send(2); });
    std::vector<int> got;
    auto collect = [&](int v) { got.push_back(v); };
    grove::select(grove::on_receive(a, collect), grove::on_receive(b, collect));
    CHECK(got.size() == 1);
    grove::select(grove::on_receive(a, collect), grove::on_receive(b, collect));
    CHECK(got == std::vector<int>{1, 2});
    to_a.join();
    to_b.join();

    // Both senders arrive while the select waits: one is served, the other stays queued.
    auto late_a = grove::spawn([&] { a.send(3); });
    auto late_b = grove::spawn([&] { b.send(4); });
    got.clear();
    grove::select(grove::on_receive(a, collect), grove::on_receive(b, collect));
    CHECK(got == std::vector<int>{3});
    CHECK_FALSE(late_b.ready());
    CHECK(b.try_receive() == 4);
    late_a.join();
    late_b.join();
  });
}

TEST_CASE("a select with send and receive cases on one channel pairs with another fiber") {
  grove::run([] {
    grove::channel<int> ch;
    auto peer = grove::spawn([&] { return *ch.receive(); });
    auto taken = grove::select(grove::on_receive(ch), grove::on_send(ch, 9));
    CHECK(taken == 1);
    int from_peer = peer.get();
    CHECK(from_peer == 9);
  });
}

TEST_CASE("a closed channel: optional handlers get nullopt, no-argument ones run, T ones throw") {
  grove::run([] {
    grove::channel<int> done;
    done.close();
    std::optional<int> seen = 1;
    std::size_t chosen =
        grove::select(grove::on_receive(done, [&](std::optional<int> v) { seen = v; }));
    CHECK(chosen == 0);
    CHECK_FALSE(seen.has_value());
    bool ran = false;
    chosen = grove::select(grove::on_receive(done, [&] { ran = true; }));
    CHECK(chosen == 0);
    CHECK(ran);
    bool threw = grove_test::throws<grove::channel_closed>(
        [&] { (void)grove::select(grove::on_receive(done, [](int) {})); });
    CHECK(threw);
    threw = grove_test::throws<grove::channel_closed>([&] { (void)grove::select(grove::on_send(done, 1)); });
    CHECK(threw);

    // Closing while the select waits wakes it the same way.
    grove::channel<int> later;
    auto closer = grove::spawn([&] { later.close(); });
    chosen = grove::select(grove::on_receive(later, [&](auto v) { seen = v; }), grove::after(10s));
    CHECK(chosen == 0);
    CHECK_FALSE(seen.has_value());
    closer.join();
  });
}

TEST_CASE("a kill or scoped timeout during select makes no case happen") {
  grove::run([] {
    grove::channel<int> a;
    grove::channel<int> b;
    auto victim = grove::spawn([&] { grove::select(grove::on_receive(a), grove::on_send(b, 1)); });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    CHECK_FALSE(a.try_send(1));                // nobody receives any more
    CHECK_FALSE(b.try_receive().has_value());  // nobody sends any more
    {
      grove::timeout t(2ms);
      bool timed_out = grove_test::throws<grove::timeout_error>(
          [&] { (void)grove::select(grove::on_receive(a), grove::on_send(b, 2)); });
      CHECK(timed_out);
    }
    CHECK_FALSE(a.try_send(1));
    CHECK_FALSE(b.try_receive().has_value());
  });
}

TEST_CASE("stress: selecting receivers over two channels get every value exactly once") {
  constexpr int senders = 2000;
  constexpr int receivers = 2000;
  constexpr int values_each = 5;
  constexpr int total = senders * values_each;
  std::vector<int> sent(total, 0);
  std::vector<int> received(total, 0);
  grove::run([&] {
    grove::with_timeout(60s, [&] {
      grove::channel<int> a;
      grove::channel<int> b(4);
      grove::event stop;
      stress::dice d{std::mt19937(99)};
      grove::spawn_options small{.name = "", .stack_size = 32 * 1024};
      std::vector<grove::fiber<void>> send_fibers;
      std::vector<grove::fiber<void>> receive_fibers;
      for (int s = 0; s < senders; ++s) {
        send_fibers.push_back(grove::spawn(small, [&, s] {
          for (int j = 0; j < values_each; ++j) {
            int id = s * values_each + j;
            if (d.coin(30)) grove::this_fiber::yield();
            (d.coin(50) ? a : b).send(id);
            ++sent[id];
          }
        }));
      }
      for (int r = 0; r < receivers; ++r) {
        receive_fibers.push_back(grove::spawn(small, [&] {
          bool open = true;
          auto take = [&](std::optional<int> id) {
            if (id) {
              ++received[*id];
            } else {
              open = false;
            }
          };
          while (open) {
            grove::select(grove::on_receive(a, take), grove::on_receive(b, take));
            if (d.coin(30)) grove::this_fiber::yield();
          }
        }));
      }
      stress::kill_at_random(d, send_fibers, receive_fibers, 5, 40);
      for (auto& f : send_fibers) f.join();
      a.close();
      b.close();
      for (auto& f : receive_fibers) f.join();
      while (auto id = b.try_receive()) ++received[*id];
    });
  });
  int delivered = stress::check_exactly_once(sent, received);
  MESSAGE(delivered << " of " << total << " values sent");
  CHECK(delivered > total / 2);
}

// Channels shared across threads (grove::cross_thread) ---------------------------------------

namespace {

/// Runs `body(i)` in grove::run on `hubs` threads at once; joins them.
template <class Body>
void on_hubs(int hubs, Body body) {
  std::vector<std::thread> threads;
  for (int i = 0; i < hubs; ++i) threads.emplace_back([&, i] { grove::run([&] { body(i); }); });
  for (auto& t : threads) t.join();
}

}  // namespace

TEST_CASE("select over shared channels fed from two other hubs takes every value exactly once") {
  constexpr int per_sender = 3000;
  grove::channel<int> a(0, grove::cross_thread);
  grove::channel<int> b(2, grove::cross_thread);
  std::vector<std::atomic<int>> received(2 * per_sender);
  std::atomic<int> senders_left{2};
  // Hubs 0 and 1 send (a: even ids, b: odd ids); hubs 2 and 3 each run two selecting fibers.
  on_hubs(4, [&](int hub) {
    if (hub < 2) {
      for (int i = 0; i < per_sender; ++i) (hub == 0 ? a : b).send(2 * i + hub);
      if (--senders_left == 0) {
        a.close();
        b.close();
      }
      return;
    }
    std::vector<grove::fiber<void>> fibers;
    for (int f = 0; f < 2; ++f) {
      fibers.push_back(grove::spawn([&] {
        int open = 2;
        while (open > 0) {
          auto take = [&](std::optional<int> id) {
            if (id) {
              ++received[*id];
            } else {
              --open;
            }
          };
          // Receiving from a closed channel is ready at once: count each closed one once.
          if (open == 2) {
            grove::select(grove::on_receive(a, take), grove::on_receive(b, take));
          } else {
            grove::select(grove::on_receive(a.closed() ? b : a, take));
          }
        }
      }));
    }
    for (auto& f : fibers) f.get();
  });
  int wrong = 0;
  for (auto& n : received) wrong += n.load() != 1;
  CHECK(wrong == 0);
}

TEST_CASE(
    "shared send and receive cases pair with fibers of another hub, and after() still fires") {
  grove::channel<int> to_b(0, grove::cross_thread);
  grove::channel<int> from_b(0, grove::cross_thread);
  constexpr int rounds = 2000;
  std::thread b([&] {
    grove::run([&] {
      for (int i = 0; i < rounds; ++i) from_b.send(*to_b.receive() + 1);
    });
  });
  grove::run([&] {
    grove::channel<int> local;  // a channel of this hub in the same select
    long long sum = 0;
    int pending = 0, sent = 0;
    while (sent < rounds || pending > 0) {
      if (sent < rounds && pending == 0) {
        auto taken = grove::select(grove::on_send(to_b, sent, [&] { ++pending; }),
                                   grove::on_receive(local), grove::after(10s));
        REQUIRE(taken == 0);
        ++sent;
      } else {
        auto taken =
            grove::select(grove::on_receive(local),
                          grove::on_receive(from_b, [&](int v) { sum += v; }), grove::after(10s));
        REQUIRE(taken == 1);
        --pending;
      }
    }
    CHECK(sum == static_cast<long long>(rounds) * (rounds + 1) / 2);
    auto start = std::chrono::steady_clock::now();
    std::size_t chosen =
        grove::select(grove::on_receive(from_b), grove::on_send(to_b, 1), grove::after(20ms));
    CHECK(chosen == 2);
    CHECK(std::chrono::steady_clock::now() - start >= 20ms);
    chosen = grove::select(grove::on_receive(from_b), grove::on_default());
    CHECK(chosen == 1);
  });
  b.join();
}

TEST_CASE("a kill or timeout ends a select on shared channels and no case happens") {
  grove::channel<int> a(0, grove::cross_thread);
  grove::channel<int> b(0, grove::cross_thread);
  grove::promise<grove::hub_ref> ref(grove::cross_thread);
  grove::event stop(grove::cross_thread);
  std::thread other([&] {
    grove::run([&] {
      ref.set_value(grove::hub::current().ref());
      stop.wait();
    });
  });
  grove::hub_ref hub_b = ref.get_future().get();
  grove::event selecting(grove::cross_thread);
  auto victim = hub_b.spawn([&] {
    bool timed_out = grove_test::throws<grove::timeout_error>([&] {
      grove::with_timeout(5ms, [&] { grove::select(grove::on_receive(a), grove::on_send(b, 1)); });
    });
    CHECK(timed_out);
    selecting.set();
    grove::select(grove::on_receive(a), grove::on_send(b, 2));  // killed here
  });
  grove::run([&] {
    selecting.wait();
    grove::this_fiber::sleep_for(2ms);
    victim.kill();
    bool ended = victim.join_for(10s);
    CHECK(ended);
    // Nobody is queued any more: neither channel pairs.
    CHECK_FALSE(a.try_send(1));
    CHECK_FALSE(b.try_receive().has_value());
  });
  bool killed = grove_test::throws<grove::killed_error>([&] { victim.get(); });
  CHECK(killed);
  stop.set();
  other.join();
}

TEST_CASE("random kills of selecting fibers on two hubs lose no value and duplicate none") {
  constexpr int values = 4000;
  grove::channel<int> a(0, grove::cross_thread);
  grove::channel<int> b(0, grove::cross_thread);
  std::vector<std::atomic<int>> sent(values), received(values);
  grove::event done(grove::cross_thread);
  std::thread sender([&] {
    grove::run([&] {
      grove::with_timeout(60s, [&] {
        for (int i = 0; i < values; ++i) {
          // A send returns only once a receiver took the value (unbuffered).
          (i % 2 ? a : b).send(i);
          ++sent[i];
        }
        a.close();
        b.close();
      });
    });
  });
  on_hubs(2, [&](int hub) {
    std::mt19937 random(7 + hub);
    std::vector<grove::fiber<void>> fibers;
    auto receiver = [&] {
      for (;;) {
        std::optional<int> got;
        grove::select(grove::on_receive(a, [&](std::optional<int> v) { got = v; }),
                      grove::on_receive(b, [&](std::optional<int> v) { got = v; }));
        if (!got) return;
        ++received[*got];
      }
    };
    for (int f = 0; f < 4; ++f) fibers.push_back(grove::spawn(receiver));
    for (int round = 0; round < 50; ++round) {
      grove::this_fiber::sleep_for(1ms);
      auto& victim = fibers[random() % fibers.size()];
      victim.kill();
      victim.join();
      victim = grove::spawn(receiver);
    }
    for (auto& f : fibers) f.join();
  });
  sender.join();
  int wrong = 0;
  for (int i = 0; i < values; ++i) wrong += received[i].load() != sent[i].load();
  CHECK(wrong == 0);
}

TEST_CASE("a plain thread selects over shared channels, blocking until a hub's fiber sends") {
  grove::channel<int> a(0, grove::cross_thread);
  grove::channel<std::string> b(0, grove::cross_thread);
  std::thread hub([&] { grove::run([&] { b.send("from a fiber"); }); });
  std::string got;
  auto taken =
      grove::select(grove::on_receive(a), grove::on_receive(b, [&](std::string s) { got = s; }));
  CHECK(taken == 1);
  CHECK(got == "from a fiber");
  std::size_t late_case = grove::select(grove::on_receive(a), grove::after(5ms));
  CHECK(late_case == 1);
  hub.join();
}

TEST_CASE("a shared channel destroyed under a select on another hub makes it throw grove::error") {
  auto doomed = std::make_unique<grove::channel<int>>(0, grove::cross_thread);
  grove::channel<int> other_channel(0, grove::cross_thread);
  grove::event about_to_select(grove::cross_thread);
  grove::promise<grove::hub_ref> ref(grove::cross_thread);
  std::string what;
  std::thread waiter([&] {
    grove::run([&] {
      ref.set_value(grove::hub::current().ref());
      about_to_select.set();
      try {
        grove::select(grove::on_receive(other_channel), grove::on_receive(*doomed));
      } catch (const grove::error& e) {
        what = e.what();
      }
    });
  });
  grove::hub_ref b = ref.get_future().get();
  about_to_select.wait();
  // The set comes right before the select, with no suspension between: a callback posted to
  // that hub runs once the select waits.
  grove::event selecting(grove::cross_thread);
  REQUIRE(b.post([&] { selecting.set(); }));
  selecting.wait();
  grove::run([&] { doomed.reset(); });  // returns once the select has left the channel
  waiter.join();
  CHECK(what.find("grove::channel destroyed") != std::string::npos);
  CHECK_FALSE(other_channel.try_send(1));  // the select left the other channel too
}
