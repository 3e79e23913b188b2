// A finished offload call goes back to its hub without allocating: a pool thread whose
// allocations all fail still hands its result to a fiber whose hub sleeps in its reactor, and
// still hands back a call whose caller was killed (the hub deletes it). The pool thread's way
// back runs where nothing can report a failure, so an allocation there that failed would end the
// process. This executable replaces aligned_alloc (what Asio's handler allocator calls) and
// operator new, failing them on a thread that asks (as tests/sync/cross_thread_alloc_test.cpp
// does); and it reads a hub's internals (lib/core) to finish a call only once its hub sleeps.
#include <doctest/doctest.h>
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <grove/grove.hpp>
#include <new>
#include <thread>
#include <utility>

#include "../failing_alloc.hpp"

using namespace std::chrono_literals;

namespace {
using grove_test::t_fail_allocations;
using grove_test::this_hub_control;
using grove_test::wait_until_asleep;

/// A result whose end the test sees (the hub deletes an abandoned call, result included).
struct result {
  int value = 0;
  std::atomic<int>* destroyed = nullptr;
  ~result() {
    if (destroyed) destroyed->fetch_add(1);
  }
  result(int v, std::atomic<int>* d) noexcept : value(v), destroyed(d) {}
  result(result&& o) noexcept : value(o.value), destroyed(std::exchange(o.destroyed, nullptr)) {}
};

}  // namespace

TEST_CASE("a pool thread without memory hands its result back to a fiber whose hub sleeps") {
  grove::run([] {
    auto& control = this_hub_control();
    for (int round = 0; round < 20; ++round) {
      bool asleep = false;
      int got = grove::offload([&] {
        t_fail_allocations = false;  // this pool thread may have failed them for a last call
        asleep = wait_until_asleep(control);
        t_fail_allocations = true;  // from here until the call is back on the hub
        return round;
      });
      CHECK(asleep);
      CHECK(got == round);
    }
  });
}

TEST_CASE("a pool thread without memory hands back a call whose caller was killed") {
  std::atomic<int> destroyed{0};
  grove::run([&] {
    std::atomic<bool> running{false}, release{false};
    auto caller = grove::spawn([&] {
      return grove::offload([&] {
        t_fail_allocations = false;
        running = true;
        while (!release.load()) std::this_thread::yield();
        t_fail_allocations = true;
        return result(7, &destroyed);
      });
    });
    for (int i = 0; i < 10'000 && !running.load(); ++i) grove::this_fiber::sleep_for(1ms);
    CHECK(running.load());
    caller.kill();  // the call is running: the caller leaves, the call is abandoned
    caller.join();
    bool killed = false;
    try {
      (void)caller.get();
    } catch (const grove::killed_error&) {
      killed = true;
    }
    CHECK(killed);
    release = true;
    // Deleted on the hub once it is back (the moved-from temporaries count nothing).
    for (int i = 0; i < 10'000 && destroyed.load() == 0; ++i) grove::this_fiber::sleep_for(1ms);
  });
  CHECK(destroyed.load() == 1);
}
