// A wake across threads allocates nothing: a waker whose allocations all fail still wakes a
// fiber whose hub sleeps in its reactor. The wake paths are noexcept (a set(), a send(), a
// shared primitive's destructor), so an allocation there that failed would end the process.
// This executable replaces aligned_alloc (what Asio's handler allocator calls) and operator
// new, failing them on a thread that asks; and it reads a hub's internals (lib/core) to wake
// the hub only once it sleeps.
#include <doctest/doctest.h>
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <grove/grove.hpp>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "../failing_alloc.hpp"

using namespace std::chrono_literals;

namespace {
using grove_test::t_fail_allocations;
using grove_test::this_hub_control;
using grove_test::wait_until_asleep;

/// Runs `fn` on this thread with every allocation failing.
template <class Fn>
void without_memory(Fn&& fn) {
  t_fail_allocations = true;
  fn();
  t_fail_allocations = false;
}

}  // namespace

TEST_CASE("the injected allocation failure is real") {
  bool threw = false;
  without_memory([&] {
    try {
      ::operator delete(::operator new(16));  // a call, which the compiler may not elide
    } catch (const std::bad_alloc&) {
      threw = true;
    }
  });
  CHECK(threw);
  without_memory([] { CHECK(aligned_alloc(64, 64) == nullptr); });
}

TEST_CASE("a thread without memory wakes a fiber whose hub sleeps: set(), send()") {
  grove::run([] {
    auto& control = this_hub_control();
    for (int round = 0; round < 40; ++round) {
      grove::event ev(grove::cross_thread);
      grove::channel<int> ch(0, grove::cross_thread);
      bool asleep = false;
      std::thread waker([&] {
        asleep = wait_until_asleep(control);
        without_memory([&] { ev.set(); });
        asleep = asleep && wait_until_asleep(control);
        without_memory([&] { ch.send(round); });
      });
      bool woken = ev.wait_for(10s);
      std::optional<int> got = grove::with_timeout(
          10s, [&] { return ch.receive(); }, std::optional<int>{});
      waker.join();
      CHECK(asleep);
      CHECK(woken);
      CHECK(got == round);
    }
  });
}

TEST_CASE("a thread without memory destroys a shared event under a fiber of a sleeping hub") {
  grove::run([] {
    auto& control = this_hub_control();
    for (int round = 0; round < 20; ++round) {
      auto* ev = new grove::event(grove::cross_thread);
      bool asleep = false;
      std::thread destroyer([&] {
        asleep = wait_until_asleep(control);
        without_memory([&] { delete ev; });
      });
      bool threw = false;
      try {
        (void)ev->wait_for(10s);
      } catch (const grove::error&) {
        threw = true;
      }
      destroyer.join();
      CHECK(asleep);
      CHECK(threw);
    }
  });
}

TEST_CASE("threads waking a sleeping hub at once share its one interrupt: no wake is lost") {
  // The hub's interrupt is queued at most once: a waker that finds it queued relies on it. Four
  // threads wake eight fibers of a sleeping hub together, 200 times; a wake lost there would
  // leave a fiber waiting until its 10 s guard.
  constexpr int fibers = 8, threads = 4, rounds = 200;
  int missed = 0;
  grove::run([&] {
    auto& control = this_hub_control();
    for (int round = 0; round < rounds; ++round) {
      std::vector<std::unique_ptr<grove::event>> events;
      for (int i = 0; i < fibers; ++i) {
        events.push_back(std::make_unique<grove::event>(grove::cross_thread));
      }
      std::vector<grove::fiber<bool>> waiters;
      for (int i = 0; i < fibers; ++i) {
        waiters.push_back(grove::spawn([&, i] { return events[i]->wait_for(10s); }));
      }
      std::atomic<int> ready{0};
      std::vector<std::thread> wakers;
      for (int t = 0; t < threads; ++t) {
        wakers.emplace_back([&, t] {
          ++ready;
          while (ready.load() < threads) std::this_thread::yield();  // together
          (void)wait_until_asleep(control);
          for (int i = t; i < fibers; i += threads) events[i]->set();
        });
      }
      for (auto& w : waiters) {
        if (!w.get()) ++missed;
      }
      for (auto& t : wakers) t.join();
    }
  });
  CHECK(missed == 0);
}
