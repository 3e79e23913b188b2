// Promises of <grove/group.hpp>.
#include <grove/group.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("spawn into a group returns handles, size counts running members, join waits for all") {
  grove::run([] {
    grove::group g;
    CHECK(g.empty());
    auto a = g.spawn([](int x) { return x * 2; }, 21);
    auto b =
        g.spawn({.name = "b", .stack_size = 64 * 1024}, [] { grove::this_fiber::sleep_for(2ms); });
    CHECK(g.size() == 2);
    CHECK(b.name() == "b");
    g.join();
    CHECK(g.empty());
    int doubled = a.get();
    CHECK(doubled == 42);
    CHECK(b.ready());
  });
}

TEST_CASE("a member leaves the group when it finishes, however it finishes") {
  grove::run([] {
    grove::group g;
    auto returns = g.spawn([] {});
    auto throws = g.spawn([] { throw std::runtime_error("member failed"); });
    auto sleeps = g.spawn([] { grove::this_fiber::sleep_for(10s); });
    auto never_runs = g.spawn([] {});
    never_runs.kill();  // killed before it started: it leaves when the hub drops it
    CHECK(g.size() == 4);
    grove::this_fiber::yield();
    CHECK(g.size() == 1);
    bool threw = grove_test::throws<std::runtime_error>([&] { throws.get(); });
    CHECK(threw);
    sleeps.kill();
    g.join();
    CHECK(g.empty());
  });
}

TEST_CASE("kill kills every member and waits until they are gone") {
  grove::run([] {
    grove::group g;
    int unwound = 0;
    struct count_on_exit {
      int& n;
      ~count_on_exit() { ++n; }
    };
    for (int i = 0; i < 5; ++i) {
      g.spawn([&] {
        count_on_exit guard{unwound};
        grove::this_fiber::sleep_for(10s);
      });
    }
    grove::this_fiber::yield();
    g.spawn([] { grove::this_fiber::sleep_for(10s); });  // not started yet
    auto start = std::chrono::steady_clock::now();
    g.kill();
    CHECK(g.empty());
    CHECK(unwound == 5);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  });
}

TEST_CASE("kill returns while another fiber keeps spawning: spawn waits until the kill ends") {
  grove::run([] {
    grove::group g;
    grove::event never;
    int spawned = 0;
    auto spawner = grove::spawn([&] {
      for (;;) {
        g.spawn([&] { never.wait(); });
        ++spawned;
        grove::this_fiber::yield();
      }
    });
    for (int i = 0; i < 3; ++i) grove::this_fiber::yield();
    CHECK(g.size() == 3);
    g.kill();  // each member's exit wakes the spawner: were it let in, this would never end
    CHECK(g.empty());
    grove::this_fiber::yield();  // the spawner's held-back spawn goes through now
    CHECK(g.size() == 1);
    CHECK(spawned == 4);
    spawner.kill();
    spawner.join();
    g.kill();
    CHECK(g.empty());
  });
}

TEST_CASE("a member spawning while it is killed does not hold kill up; the newcomer never runs") {
  grove::run([] {
    grove::group g;
    grove::event never;
    bool newcomer_started = false;
    g.spawn([&] {
      struct on_exit {
        grove::group& g;
        grove::event& never;
        bool& started;
        ~on_exit() {  // spawns while unwinding from the kill
          g.spawn([this] {
            started = true;
            never.wait();
          });
        }
      } guard{g, never, newcomer_started};
      never.wait();
    });
    grove::this_fiber::yield();
    g.kill();
    CHECK(g.empty());
    CHECK_FALSE(newcomer_started);
  });
}

TEST_CASE("wait_any returns the id of the next member to finish") {
  grove::run([] {
    grove::group g;
    auto next = g.wait_any();
    CHECK(next == 0);  // empty
    grove::event release_slow;
    auto slow = g.spawn([&] { release_slow.wait(); });
    auto fast = g.spawn([] { grove::this_fiber::sleep_for(1ms); });
    next = g.wait_any();
    CHECK(next == fast.id());
    auto within = g.wait_any_for(1ms);
    CHECK_FALSE(within.has_value());
    grove::call_soon([&] { release_slow.set(); });
    within = g.wait_any_for(10s);
    CHECK(within == slow.id());
    within = g.wait_any_for(10s);
    CHECK_FALSE(within.has_value());  // empty again
  });
}

TEST_CASE("join_for times out while members run; kill and timeouts interrupt join") {
  grove::run([] {
    grove::group g;
    g.spawn([] { grove::this_fiber::sleep_for(10s); });
    bool joined = g.join_for(2ms);
    CHECK_FALSE(joined);
    {
      grove::timeout t(2ms);
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { g.join(); });
      CHECK(timed_out);
    }
    auto joiner = grove::spawn([&] { g.join(); });
    grove::this_fiber::yield();
    joiner.kill();
    joiner.join();
    CHECK(g.size() == 1);
    g.kill();
  });
}

TEST_CASE("a destroyed group leaves its members running, detached") {
  grove::run([] {
    grove::event go;
    bool finished = false;
    grove::fiber<void> member;
    {
      grove::group g;
      member = g.spawn([&] {
        go.wait();
        finished = true;
      });
    }
    go.set();
    member.join();
    CHECK(finished);
  });
}
