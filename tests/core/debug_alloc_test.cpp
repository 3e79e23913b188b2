// The dump signal's request to a hub (<grove/debug.hpp>) allocates nothing on grove's
// diagnostics thread, which could only end the process if an allocation there failed; and it
// is one preallocated request per hub, queued at most once: requests that come while a hub's
// dump is still queued give it one dump. This executable replaces aligned_alloc and operator
// new (tests/failing_alloc.hpp) to fail them on every thread but the test's own, and reads a
// hub's internals (lib/core) to see its request queued.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <grove/debug.hpp>
#include <grove/grove.hpp>
#include <string>
#include <thread>

#include "../failing_alloc.hpp"
#include "stderr_capture.hpp"

using namespace std::chrono_literals;

namespace {
using grove_test::count_of;
using grove_test::stderr_capture;
using grove_test::this_hub_control;

/// Waits (bounded: 5 s, a sleep between looks) until `text()` holds `what` `count` times.
template <class Text>
bool wait_for_text(const Text& text, const std::string& what, std::size_t count) {
  for (int i = 0; i < 500; ++i) {
    if (count_of(text(), what) >= count) return true;
    grove::this_fiber::sleep_for(10ms);
  }
  return false;
}

/// Holds the hub (no grove call: nothing else runs on it) until `done()` or 10 s; returns done().
template <class Done>
bool hold_hub_until(Done done) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("a dump request reaches a hub while every other thread's allocations fail") {
  stderr_capture captured;
  bool printed = false;
  grove_test::t_spared = true;  // this thread (the hub's) only
  grove::run([&] {
    grove::dump_fibers_on(SIGUSR1);
    auto sleeper = grove::spawn({.name = "starved"}, [] { grove::this_fiber::sleep_for(1h); });
    grove::this_fiber::yield();
    grove_test::g_fail_other_threads = true;  // the diagnostics thread's allocations fail
    ::kill(::getpid(), SIGUSR1);
    printed = wait_for_text([&] { return captured.text(); }, "'starved' suspended: sleep", 1);
    grove_test::g_fail_other_threads = false;
    sleeper.kill();
  });
  grove::dump_fibers_on(0);
  grove_test::t_spared = false;
  INFO(captured.text());
  CHECK(printed);
}

TEST_CASE("dump requests that come while a hub's dump is still queued give it one dump") {
  stderr_capture captured;
  auto text = [&] { return captured.text(); };
  grove::dump_fibers_on(SIGUSR1);
  // A second hub, registered first: the diagnostics thread serves hubs newest first, so once
  // it has printed this one's dump for a request, it has handled the test hub's.
  grove::event stop(grove::cross_thread);
  std::atomic<bool> other_running{false};
  std::thread other([&] {
    grove::run([&] {
      auto idler = grove::spawn({.name = "idler"}, [&] { stop.wait(); });
      grove::this_fiber::yield();
      other_running = true;
      other_running.notify_all();
      idler.join();
    });
  });
  other_running.wait(false);
  bool queued = false, first_served = false, second_served = false, printed = false;
  grove::run([&] {
    auto& control = this_hub_control();
    auto marker = grove::spawn({.name = "merged"}, [] { grove::this_fiber::sleep_for(1h); });
    grove::this_fiber::yield();
    // This hub runs nothing until both requests have been handled: the first stays queued.
    ::kill(::getpid(), SIGUSR1);
    queued = hold_hub_until([&] { return control.inbox.has_items(); });
    first_served = hold_hub_until([&] { return count_of(text(), "'idler' suspended") >= 1; });
    ::kill(::getpid(), SIGUSR1);
    second_served = hold_hub_until([&] { return count_of(text(), "'idler' suspended") >= 2; });
    printed = wait_for_text(text, "'merged' suspended", 1);
    marker.kill();
  });
  stop.set();
  other.join();
  grove::dump_fibers_on(0);
  std::string all = text();
  INFO(all);
  CHECK(queued);
  CHECK(first_served);
  CHECK(second_served);
  CHECK(printed);
  CHECK(count_of(all, "'merged' suspended") == 1);
}
