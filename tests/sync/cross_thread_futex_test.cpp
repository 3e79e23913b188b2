// A plain thread waiting on a shared primitive is woken by a futex system call that its waker
// makes only once it has released the primitive's lock: a system call under a spinlock would
// stall every thread spinning on it (the woken thread first of all, which takes that lock at
// once). This executable replaces libc's syscall() (what grove's futex calls go through) to
// count each futex wake and whether the calling thread then held a shared primitive's lock.
#include <doctest/doctest.h>
#include <dlfcn.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <functional>
#include <grove/grove.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
std::atomic<long> g_futex_wakes{0};
std::atomic<long> g_futex_wakes_under_lock{0};
}  // namespace

extern "C" long syscall(long number, ...) noexcept {
  va_list list;
  va_start(list, number);
  long arg[6];
  for (long& a : arg) a = va_arg(list, long);  // as glibc's own syscall() reads them
  va_end(list);
  if (number == SYS_futex && (arg[1] & FUTEX_CMD_MASK) == FUTEX_WAKE) {
    g_futex_wakes.fetch_add(1, std::memory_order_relaxed);
    if (grove::detail::t_shared_locks != 0) {
      g_futex_wakes_under_lock.fetch_add(1, std::memory_order_relaxed);
    }
  }
  using syscall_type = long (*)(long, ...);
  static const auto real = reinterpret_cast<syscall_type>(dlsym(RTLD_NEXT, "syscall"));
  return real(number, arg[0], arg[1], arg[2], arg[3], arg[4], arg[5]);
}

namespace {

/// Starts `count` plain threads running `body(i)` and returns once each has started.
std::vector<std::thread> start_threads(int count, const std::function<void(int)>& body) {
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&started, body, i] {
      started.fetch_add(1);
      body(i);
    });
  }
  while (started.load() < count) std::this_thread::yield();
  return threads;
}

}  // namespace

TEST_CASE("plain threads waiting on a shared semaphore are woken by fibers outside its lock") {
  constexpr int threads = 8, permits_each = 200;
  const long wakes_before = g_futex_wakes.load(), under_lock_before = g_futex_wakes_under_lock;
  grove::semaphore permits(0, grove::cross_thread);
  std::atomic<int> missed{0};
  auto waiters = start_threads(threads, [&](int) {
    for (int i = 0; i < permits_each; ++i) {
      if (!permits.try_acquire_for(10s)) missed.fetch_add(1);
    }
  });
  grove::run([&] {
    // Two fibers release, in small batches: the threads drain each batch and block again (a
    // pause lets them; their wakes are what is counted, not the pause).
    auto releaser = [&] {
      for (int i = 0; i < threads * permits_each / 2; ++i) {
        permits.release();
        if (i % 8 == 7) grove::this_fiber::sleep_for(1ms);
      }
    };
    auto a = grove::spawn(releaser), b = grove::spawn(releaser);
    a.join();
    b.join();
  });
  for (auto& t : waiters) t.join();
  CHECK(missed == 0);
  CHECK(permits.available() == 0);
  CHECK(g_futex_wakes.load() > wakes_before);  // the threads did block (the path was taken)
  CHECK(g_futex_wakes_under_lock.load() == under_lock_before);
}

TEST_CASE("plain threads taking from a shared queue are woken by fibers outside its lock") {
  constexpr int threads = 8, values_each = 200;
  const long wakes_before = g_futex_wakes.load(), under_lock_before = g_futex_wakes_under_lock;
  grove::queue<int> q(1, grove::cross_thread);  // channels and queues share one engine
  std::vector<std::atomic<int>> seen(threads * values_each);
  std::atomic<int> received{0};
  auto takers = start_threads(threads, [&](int) {
    for (int i = 0; i < values_each; ++i) {
      std::optional<int> v = q.get_for(10s);
      if (!v) break;
      seen[*v].fetch_add(1);
      received.fetch_add(1);
    }
  });
  grove::run([&] {
    auto giver = [&](int first) {
      for (int v = first; v < threads * values_each; v += 2) {
        if (!q.put_for(v, 10s)) break;
        if (v % 16 == first) grove::this_fiber::sleep_for(1ms);
      }
    };
    auto a = grove::spawn(giver, 0), b = grove::spawn(giver, 1);
    a.join();
    b.join();
  });
  for (auto& t : takers) t.join();
  CHECK(received == threads * values_each);
  int wrong = 0;
  for (auto& count : seen) wrong += count.load() != 1;
  CHECK(wrong == 0);
  CHECK(g_futex_wakes.load() > wakes_before);
  CHECK(g_futex_wakes_under_lock.load() == under_lock_before);
}

TEST_CASE("one set() wakes sixteen plain threads, each outside the event's lock") {
  constexpr int threads = 16, rounds = 20;
  const long under_lock_before = g_futex_wakes_under_lock.load();
  int woken = 0;
  for (int round = 0; round < rounds; ++round) {
    grove::event ev(grove::cross_thread);
    std::atomic<int> ok{0};
    auto waiters = start_threads(threads, [&](int) {
      if (ev.wait_for(10s)) ok.fetch_add(1);
    });
    grove::run([&] {
      grove::this_fiber::sleep_for(1ms);  // most threads are asleep by now (not required)
      ev.set();
    });
    for (auto& t : waiters) t.join();
    woken += ok.load();
  }
  CHECK(woken == threads * rounds);
  CHECK(g_futex_wakes_under_lock.load() == under_lock_before);
}
