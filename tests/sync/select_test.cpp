// Promises of <grove/select.hpp>.
#include <grove/select.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <grove/grove.hpp>

#include "stress.hpp"

using namespace std::chrono_literals;

TEST_CASE("select takes the first ready case in argument order") {
  grove::run([] {
    grove::channel<int> a(1);
    grove::channel<int> b(1);
    a.send(1);
    b.send(2);
    int got = 0;
    auto taken = grove::select(grove::on_receive(b, [&](int v) { got = v; }),
                               grove::on_receive(a, [&](int v) { got = v; }));
    CHECK(taken == 0);
    CHECK(got == 2);
    CHECK(a.size() == 1);  // untouched
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
    CHECK(grove::select(grove::on_receive(ch), grove::on_default([&] { defaulted = true; })) == 1);
    CHECK(defaulted);
    bool timed_out = false;
    auto start = std::chrono::steady_clock::now();
    auto taken = grove::select(grove::on_receive(ch), grove::after(50ms),
                               grove::after(5ms, [&] { timed_out = true; }));
    CHECK(taken == 2);  // the earliest timer
    CHECK(timed_out);
    CHECK(std::chrono::steady_clock::now() - start >= 5ms);
    CHECK(grove::select(grove::on_receive(ch), grove::after(0ms)) == 1);
  });
}

TEST_CASE("a send case hands its value to a receiver, now or when one comes") {
  grove::run([] {
    grove::channel<int> ch;
    int got = 0;
    auto receiver = grove::spawn([&] { got = *ch.receive(); });
    grove::this_fiber::yield();
    bool sent = false;
    CHECK(grove::select(grove::on_send(ch, 5, [&] { sent = true; }), grove::on_default()) == 0);
    CHECK(sent);
    receiver.join();
    CHECK(got == 5);
    auto late = grove::spawn([&] {
      grove::this_fiber::sleep_for(2ms);
      got = *ch.receive();
    });
    CHECK(grove::select(grove::on_send(ch, 6), grove::after(10s)) == 0);
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
    CHECK(peer.get() == 9);
  });
}

TEST_CASE("a closed channel: optional handlers get nullopt, no-argument ones run, T ones throw") {
  grove::run([] {
    grove::channel<int> done;
    done.close();
    std::optional<int> seen = 1;
    CHECK(grove::select(grove::on_receive(done, [&](std::optional<int> v) { seen = v; })) == 0);
    CHECK_FALSE(seen.has_value());
    bool ran = false;
    CHECK(grove::select(grove::on_receive(done, [&] { ran = true; })) == 0);
    CHECK(ran);
    CHECK_THROWS_AS(grove::select(grove::on_receive(done, [](int) {})), grove::channel_closed);
    CHECK_THROWS_AS(grove::select(grove::on_send(done, 1)), grove::channel_closed);

    // Closing while the select waits wakes it the same way.
    grove::channel<int> later;
    auto closer = grove::spawn([&] { later.close(); });
    CHECK(grove::select(grove::on_receive(later, [&](auto v) { seen = v; }), grove::after(10s)) ==
          0);
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
      CHECK_THROWS_AS(grove::select(grove::on_receive(a), grove::on_send(b, 2)),
                      grove::timeout_error);
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
