// grove::mutex: mutual exclusion between fibers of one hub, for std::lock_guard and
// std::unique_lock (and grove::condition_variable).
//
// Example:
//   grove::mutex m;
//   std::vector<int> shared;
//   grove::spawn([&] {
//     std::lock_guard lock(m);     // waits while another fiber holds it
//     shared.push_back(1);
//     grove::this_fiber::yield();  // other fibers run; those that want m wait
//   });
//
// Only needed when a fiber suspends while the data is inconsistent: fibers of one hub never
// run in parallel. unlock() hands the mutex straight to the oldest waiter (FIFO, no barging).
// Waits honour kill() and grove::timeout; a waiter that was already handed the mutex keeps it
// (the kill is raised at its next suspension, so its lock_guard unlocks it on the way out).
// Locking it again from the owning fiber, or unlocking it from another, throws grove::error.
// Not copyable or movable.
//
// A mutex belongs to the hub that made it, unless made with grove::cross_thread
// (`grove::mutex m(grove::cross_thread)`): then fibers of every hub and plain threads share it,
// with the same rules (FIFO hand-off, kill and grove::timeout, an error for waiters if it is
// destroyed under them); the holder is a fiber, or a plain thread, which blocks like
// std::timed_mutex. Hub callbacks may not lock either kind. See <grove/cross_thread.hpp>.
#pragma once

#include <chrono>
#include <grove/cross_thread.hpp>
#include <source_location>
#include <grove/detail/deadline.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove {

class condition_variable;

/// A non-recursive mutex owned by a fiber.
class mutex {
 public:
  mutex() noexcept = default;
  /// A mutex fibers of every hub and plain threads may lock.
  explicit mutex(cross_thread_t tag) noexcept : sync_(tag) {}
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;
  /// A shared mutex wakes its waiters with an error and waits until they have left.
  ~mutex() {
    if (sync_.shared()) [[unlikely]]
      sync_.abandon_waiters(waiters_);
  }

  /// Locks, waiting while another fiber holds the mutex. (Through std::lock_guard or
  /// std::unique_lock, the line grove::dump_fibers shows is theirs, in the standard library.)
  void lock(std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    lock_until(detail::no_deadline);
  }
  /// Locks if the mutex is free now; false otherwise.
  bool try_lock();
  /// Locks, waiting at most `d`; false if it stayed held.
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d,
                    std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    return lock_until(detail::deadline_after(d));
  }
  /// Locks, waiting until `t` at the latest; false if it stayed held.
  template <class Clock, class Duration>
  bool try_lock_until(std::chrono::time_point<Clock, Duration> t,
                      std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    return lock_until(detail::deadline_at(t));
  }
  /// Unlocks, handing the mutex to the oldest waiter if there is one.
  void unlock();

  /// True while some fiber (or thread) holds the mutex.
  bool locked() const;

 private:
  friend class condition_variable;
  bool lock_until(detail::time_point deadline);
  /// Locks without honouring kill or timeout (they stay pending): condition_variable's relock.
  void lock_uninterruptible();
  bool try_lock_shared();
  bool lock_shared_until(detail::time_point deadline);
  void lock_shared_uninterruptible();
  void unlock_shared();

  detail::sync_owner sync_;
  /// The holder: its fiber on one hub; shared, its fiber or plain thread (an address that
  /// names it, see mutex.cpp).
  const void* owner_ = nullptr;
  detail::wait_queue waiters_{detail::wait_kind::mutex};
};

}  // namespace grove
