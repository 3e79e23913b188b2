// grove::condition_variable: wait for a condition guarded by a grove::mutex.
//
// Example:
//   grove::mutex m;
//   grove::condition_variable changed;
//   std::deque<int> items;
//   // consumer fiber:
//   std::unique_lock lock(m);
//   changed.wait(lock, [&] { return !items.empty(); });  // unlocks while waiting
//   int item = items.front();
//   // producer fiber:
//   { std::lock_guard lock(m); items.push_back(1); }
//   changed.notify_one();
//
// As with std::condition_variable, the mutex is held again whenever a wait returns or throws:
// a kill or grove::timeout during the wait re-acquires it before the exception propagates (and
// a kill or timeout arriving while re-acquiring waits until the mutex is held, then is raised
// at the next suspension). Waiters are woken in FIFO order; there are no spurious wake-ups, but
// the predicate forms are still the safe habit (another fiber may run first and change the
// state). notify_one / notify_all may be called from hub callbacks. Not copyable or movable.
//
// Made with grove::cross_thread, fibers of every hub and plain threads share it (with a mutex
// made with grove::cross_thread too), with the same rules; a plain thread blocks like
// std::condition_variable. See <grove/cross_thread.hpp>.
#pragma once

#include <chrono>
#include <condition_variable>  // std::cv_status
#include <grove/cross_thread.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/mutex.hpp>
#include <mutex>  // std::unique_lock
#include <utility>

namespace grove {

/// Waits for notifications while a grove::mutex is released.
class condition_variable {
 public:
  condition_variable() noexcept = default;
  /// A condition variable fibers of every hub and plain threads may wait on and notify.
  explicit condition_variable(cross_thread_t tag) noexcept : owner_(tag) {}
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;
  /// A shared one wakes its waiters with an error and waits until they have left.
  ~condition_variable() {
    if (owner_.shared()) [[unlikely]]
      owner_.abandon_waiters(waiters_);
  }

  /// Wakes the oldest waiter.
  void notify_one() {
    detail::sync_guard guard(owner_);
    waiters_.notify_one();
  }
  /// Wakes every waiter.
  void notify_all() {
    detail::sync_guard guard(owner_);
    waiters_.notify_all();
  }

  /// Unlocks `lock`, waits for a notification, locks again.
  void wait(std::unique_lock<mutex>& lock) { wait_until_deadline(lock, detail::no_deadline); }
  /// Waits until `ready()` holds (checked with the mutex held).
  template <class Predicate>
  void wait(std::unique_lock<mutex>& lock, Predicate ready) {
    while (!ready()) wait(lock);
  }
  /// Waits for a notification at most `d`.
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lock, std::chrono::duration<Rep, Period> d) {
    return wait_until_deadline(lock, detail::deadline_after(d));
  }
  /// Waits at most `d` until `ready()` holds; returns ready().
  template <class Rep, class Period, class Predicate>
  bool wait_for(std::unique_lock<mutex>& lock, std::chrono::duration<Rep, Period> d,
                Predicate ready) {
    return wait_until_ready(lock, detail::deadline_after(d), std::move(ready));
  }
  /// Waits for a notification until `t` at the latest.
  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<mutex>& lock,
                            std::chrono::time_point<Clock, Duration> t) {
    return wait_until_deadline(lock, detail::deadline_at(t));
  }
  /// Waits until `ready()` holds or `t` passes; returns ready().
  template <class Clock, class Duration, class Predicate>
  bool wait_until(std::unique_lock<mutex>& lock, std::chrono::time_point<Clock, Duration> t,
                  Predicate ready) {
    return wait_until_ready(lock, detail::deadline_at(t), std::move(ready));
  }

 private:
  std::cv_status wait_until_deadline(std::unique_lock<mutex>& lock, detail::time_point deadline);
  std::cv_status wait_shared(mutex& m, detail::time_point deadline);
  template <class Predicate>
  bool wait_until_ready(std::unique_lock<mutex>& lock, detail::time_point deadline,
                        Predicate ready) {
    while (!ready()) {
      if (wait_until_deadline(lock, deadline) == std::cv_status::timeout) return ready();
    }
    return true;
  }

  detail::sync_owner owner_;
  detail::wait_queue waiters_{detail::wait_kind::condition};
};

}  // namespace grove
