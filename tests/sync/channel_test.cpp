// Promises of <grove/channel.hpp>.
#include <grove/channel.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/grove.hpp>

#include "stress.hpp"
#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("an unbuffered send waits until a receiver has taken the value") {
  grove::run([] {
    grove::channel<int> ch;
    CHECK(ch.capacity() == 0);
    bool sent = false;
    auto sender = grove::spawn([&] {
      ch.send(1);
      sent = true;
    });
    for (int i = 0; i < 3; ++i) grove::this_fiber::yield();
    CHECK_FALSE(sent);
    CHECK(ch.size() == 0);
    std::optional<int> first = ch.receive();
    CHECK(first == 1);
    sender.join();
    CHECK(sent);
  });
}

TEST_CASE("a send to a waiting receiver completes at once and the value cannot be barged") {
  grove::run([] {
    grove::channel<std::string> ch;
    std::string got;
    auto receiver = grove::spawn([&] { got = *ch.receive(); });
    grove::this_fiber::yield();
    CHECK(ch.try_send("hello"));  // the receiver waits: no need to wait for it
    CHECK_FALSE(ch.try_receive().has_value());
    receiver.join();
    CHECK(got == "hello");
    CHECK_FALSE(ch.try_send("nobody"));  // nobody receives, no buffer
  });
}

TEST_CASE("a buffered channel holds values until full, then send waits") {
  grove::run([] {
    grove::channel<int> ch(2);
    ch.send(1);
    ch.send(2);
    CHECK(ch.size() == 2);
    CHECK_FALSE(ch.try_send(3));
    bool third_sent = false;
    auto sender = grove::spawn([&] {
      ch.send(3);
      third_sent = true;
    });
    grove::this_fiber::yield();
    CHECK_FALSE(third_sent);
    std::optional<int> first = ch.receive();
    CHECK(first == 1);
    CHECK(ch.size() == 2);  // the waiting sender's value moved in at once
    sender.join();
    CHECK(third_sent);
    std::optional<int> second = ch.receive();
    CHECK(second == 2);
    CHECK(ch.try_receive() == 3);
    CHECK_FALSE(ch.try_receive().has_value());
  });
}

TEST_CASE("senders and receivers are each served in FIFO order") {
  grove::run([] {
    grove::channel<int> ch;
    std::vector<grove::fiber<void>> senders;
    for (int i = 0; i < 4; ++i) senders.push_back(grove::spawn([&ch, i] { ch.send(i); }));
    grove::this_fiber::yield();
    std::vector<int> got;
    for (int i = 0; i < 4; ++i) got.push_back(*ch.receive());
    CHECK(got == std::vector<int>{0, 1, 2, 3});
    std::vector<int> order;
    std::vector<grove::fiber<void>> receivers;
    for (int i = 0; i < 3; ++i) {
      receivers.push_back(grove::spawn([&, i] {
        ch.receive();
        order.push_back(i);
      }));
    }
    grove::this_fiber::yield();
    for (int i = 0; i < 3; ++i) ch.send(i);
    for (auto& r : receivers) r.join();
    CHECK(order == std::vector<int>{0, 1, 2});
  });
}

TEST_CASE("close ends range-for after the buffered values; send on a closed channel throws") {
  grove::run([] {
    grove::channel<int> ch(8);
    auto producer = grove::spawn([&] {
      for (int i = 0; i < 5; ++i) ch.send(i);
      CHECK(ch.close());
    });
    std::vector<int> got;
    for (int v : ch) got.push_back(v);
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
    producer.join();
    CHECK(ch.closed());
    CHECK_FALSE(ch.close());  // closing twice is harmless
    bool more = ch.receive().has_value();
    CHECK_FALSE(more);
    bool refused = grove_test::throws<grove::channel_closed>([&] { ch.send(5); });
    CHECK(refused);
    CHECK_THROWS_AS(ch.try_send(5), grove::channel_closed);
  });
}

TEST_CASE("close wakes waiting receivers with nullopt and waiting senders with channel_closed") {
  grove::run([] {
    grove::channel<int> in;
    grove::channel<int> out;
    int receivers_done = 0;
    int senders_refused = 0;
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < 3; ++i) {
      fibers.push_back(grove::spawn([&] {
        if (!in.receive()) ++receivers_done;
      }));
      fibers.push_back(grove::spawn([&] {
        try {
          out.send(1);
        } catch (const grove::channel_closed&) {
          ++senders_refused;
        }
      }));
    }
    grove::this_fiber::yield();
    in.close();
    out.close();
    for (auto& f : fibers) f.join();
    CHECK(receivers_done == 3);
    CHECK(senders_refused == 3);
  });
}

TEST_CASE("kill and scoped timeouts interrupt send and receive without losing a value") {
  grove::run([] {
    grove::channel<int> ch;
    auto killed_sender = grove::spawn([&] { ch.send(1); });
    auto killed_receiver = grove::spawn([&] {
      grove::this_fiber::yield();
      ch.receive();
    });
    grove::this_fiber::yield();
    killed_sender.kill();
    killed_sender.join();
    {
      grove::timeout t(2ms);
      // The killed sender sent nothing.
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { (void)ch.receive(); });
      CHECK(timed_out);
    }
    grove::this_fiber::yield();
    killed_receiver.kill();
    killed_receiver.join();
    int got = -1;
    auto receiver = grove::spawn([&] { got = *ch.receive(); });
    grove::this_fiber::yield();
    ch.send(2);  // to the live receiver, not the killed one
    receiver.join();
    CHECK(got == 2);
    {
      grove::timeout t(2ms);
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { ch.send(3); });
      CHECK(timed_out);
    }
    CHECK_FALSE(ch.try_receive().has_value());
  });
}

TEST_CASE("a receiver handed a value and then killed still returns it") {
  grove::run([] {
    grove::channel<int> ch;
    int got = -1;
    auto receiver = grove::spawn([&] {
      got = *ch.receive();
      grove::this_fiber::yield();
    });
    grove::this_fiber::yield();
    ch.send(4);
    receiver.kill();
    receiver.join();
    CHECK(got == 4);
  });
}

TEST_CASE("move-only values pass through a channel") {
  grove::run([] {
    grove::channel<std::unique_ptr<int>> ch;
    auto sender = grove::spawn([&] {
      ch.send(std::make_unique<int>(6));
      ch.close();
    });
    int sum = 0;
    for (auto& p : ch) sum += *p;
    CHECK(sum == 6);
    sender.join();
  });
}

namespace {
// 10k fibers through one channel with random yields and kills; every value exactly once.
void stress_channel(std::size_t capacity, unsigned seed) {
  constexpr int senders = 5000;
  constexpr int receivers = 5000;
  constexpr int values_each = 4;
  constexpr int total = senders * values_each;
  std::vector<int> sent(total, 0);
  std::vector<int> received(total, 0);
  grove::run([&] {
    grove::with_timeout(60s, [&] {
      grove::channel<int> ch(capacity);
      stress::dice d{std::mt19937(seed)};
      grove::spawn_options small{.name = "", .stack_size = 32 * 1024};
      std::vector<grove::fiber<void>> send_fibers;
      std::vector<grove::fiber<void>> receive_fibers;
      for (int s = 0; s < senders; ++s) {
        send_fibers.push_back(grove::spawn(small, [&, s] {
          for (int j = 0; j < values_each; ++j) {
            if (d.coin(30)) grove::this_fiber::yield();
            int id = s * values_each + j;
            ch.send(id);
            ++sent[id];
          }
        }));
      }
      for (int r = 0; r < receivers; ++r) {
        receive_fibers.push_back(grove::spawn(small, [&] {
          while (auto id = ch.receive()) {
            ++received[*id];
            if (d.coin(30)) grove::this_fiber::yield();
          }
        }));
      }
      stress::kill_at_random(d, send_fibers, receive_fibers, 10, 100);
      for (auto& f : send_fibers) f.join();
      ch.close();
      for (auto& f : receive_fibers) f.join();
      while (auto id = ch.try_receive()) ++received[*id];
    });
  });
  int delivered = stress::check_exactly_once(sent, received);
  MESSAGE("capacity " << capacity << ": " << delivered << " of " << total << " values sent");
  CHECK(delivered > total / 2);
}
}  // namespace

TEST_CASE("stress: 10k senders and receivers on an unbuffered channel, each value exactly once") {
  stress_channel(0, 777);
}

TEST_CASE("stress: 10k senders and receivers on a buffered channel, each value exactly once") {
  stress_channel(16, 4242);
}

namespace {

/// An item whose copy and move throw while `armed` if it is poisoned (a negative value): its
/// hand-off fails, and the waiter on the other side is told to go round again.
struct fragile {
  static inline bool armed = false;
  int value = 0;
  explicit fragile(int v) noexcept : value(v) {}
  fragile(const fragile& o) : value(o.value) { check(o); }
  fragile(fragile&& o) : value(o.value) { check(o); }
  static void check(const fragile& o) {
    if (o.value < 0 && armed) throw std::runtime_error("fragile: copy failed");
  }
};

/// Runs `wait` in a fiber that waits in `ch`; then `fail` makes the hand-off to it throw (it is
/// woken to go round again) and the channel is destroyed before that fiber runs. Returns what
/// the wait came to: before the fix, it went round into the freed channel (ASan:
/// heap-use-after-free).
template <class Wait, class Fail>
std::string destroyed_after_failed_hand_off(Wait wait, Fail fail) {
  std::string outcome;
  auto* ch = new grove::channel<fragile>(0);
  auto waiter = grove::spawn([&] {
    try {
      grove::timeout guard(3s);
      wait(*ch);
      outcome = "returned";
    } catch (const grove::timeout_error&) {
      outcome = "timed out";
    } catch (const grove::error& e) {
      outcome = e.what();
    }
  });
  grove::this_fiber::yield();  // the waiter waits in the channel
  fragile::armed = true;
  bool threw = false;
  try {
    fail(*ch);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  fragile::armed = false;
  delete ch;  // the waiter, woken to retry, has not run yet
  waiter.join();
  return threw ? outcome : "the hand-off did not throw";
}

}  // namespace

TEST_CASE("a waiter whose hand-off threw does not go round again in a channel being destroyed") {
  grove::run([] {
    const std::string expected = "grove::channel destroyed while a fiber waited on it";
    const fragile poisoned(-1);
    auto send_it = [&](grove::channel<fragile>& ch) { ch.send(poisoned); };
    auto receive_it = [](grove::channel<fragile>& ch) { (void)ch.receive(); };
    auto select_send = [](grove::channel<fragile>& ch) {
      (void)grove::select(grove::on_send(ch, fragile(-1)));
    };
    std::string sender = destroyed_after_failed_hand_off(send_it, receive_it);
    std::string receiver = destroyed_after_failed_hand_off(receive_it, send_it);
    std::string selecter = destroyed_after_failed_hand_off(select_send, receive_it);
    CHECK(sender.find(expected) == 0);
    CHECK(receiver.find(expected) == 0);
    CHECK(selecter.find(expected) == 0);
  });
}

TEST_CASE("a waiter whose hand-off threw goes round again and is served") {
  grove::run([] {
    grove::channel<fragile> ch;
    int got = 0;
    auto sender = grove::spawn([&] { ch.send(fragile(-1)); });
    grove::this_fiber::yield();
    fragile::armed = true;
    bool threw = false;
    try {
      (void)ch.receive();
    } catch (const std::runtime_error&) {
      threw = true;
    }
    fragile::armed = false;
    std::optional<fragile> v = ch.receive();  // the sender went round and waits again
    if (v) got = v->value;
    sender.join();
    CHECK(threw);
    CHECK(got == -1);
  });
}
