// grove::semaphore and grove::bounded_semaphore: counting permits between fibers (gevent's
// Semaphore and BoundedSemaphore).
//
// Example:
//   grove::semaphore slots(3);                       // at most 3 fibers inside at once
//   for (auto& url : urls) {
//     grove::spawn([&slots, url] {
//       slots.acquire();                             // waits while 3 are inside
//       fetch(url);
//       slots.release();
//     });
//   }
//
// Waiters are served first come, first served, and nobody barges: release() hands the permit
// straight to the oldest waiter (a later acquire() cannot take it first). A waiter killed or
// timed out before that takes nothing, and the permit goes to the next one; a waiter that was
// handed a permit keeps it, and a kill arriving afterwards is raised at its next suspension.
// release() may be called from hub callbacks. Not copyable or movable.
//
// A semaphore belongs to the hub that made it, unless made with grove::cross_thread
// (`grove::semaphore slots(3, grove::cross_thread)`): then fibers of every hub and plain threads
// share it, with the same rules (FIFO hand-off, kill and grove::timeout, an error for waiters
// if it is destroyed under them); a plain thread blocks like std::counting_semaphore. See
// <grove/cross_thread.hpp>.
#pragma once

#include <chrono>
#include <cstddef>
#include <grove/cross_thread.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <limits>
#include <source_location>

namespace grove {

/// A counting semaphore: acquire() takes a permit, waiting while there is none.
class semaphore {
 public:
  /// A semaphore holding `permits` permits.
  explicit semaphore(std::size_t permits = 1) noexcept : permits_(permits) {}
  /// A semaphore holding `permits` permits, shared by fibers of every hub and plain threads.
  semaphore(std::size_t permits, cross_thread_t tag) noexcept : owner_(tag), permits_(permits) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;
  /// A shared semaphore wakes its waiters with an error and waits until they have left.
  ~semaphore() {
    if (owner_.shared()) [[unlikely]]
      owner_.abandon_waiters(waiters_);
  }

  /// Takes a permit, waiting for one if none is free.
  void acquire(std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    acquire_until(detail::no_deadline);
  }
  /// Takes a permit if one is free now; false otherwise.
  bool try_acquire() {
    if (!owner_.local()) [[unlikely]]
      return try_acquire_shared();
    if (permits_ == 0) return false;
    --permits_;
    return true;
  }
  /// Takes a permit, waiting at most `d`; false if none came.
  template <class Rep, class Period>
  bool try_acquire_for(std::chrono::duration<Rep, Period> d) {
    return acquire_until(detail::deadline_after(d));
  }
  /// Takes a permit, waiting until `t` at the latest; false if none came.
  template <class Clock, class Duration>
  bool try_acquire_until(std::chrono::time_point<Clock, Duration> t) {
    return acquire_until(detail::deadline_at(t));
  }
  /// Returns `n` permits, handing each to the oldest waiter first. A bounded_semaphore throws
  /// grove::error (and changes nothing) if that would exceed its bound.
  void release(std::size_t n = 1);

  /// Free permits.
  std::size_t available() const {
    if (!owner_.local()) [[unlikely]]
      return available_shared();
    return permits_;
  }

 protected:
  /// A semaphore that refuses to hold more than `bound` permits.
  semaphore(std::size_t permits, std::size_t bound) noexcept : permits_(permits), bound_(bound) {}
  /// As above, shared across threads.
  semaphore(std::size_t permits, std::size_t bound, cross_thread_t tag) noexcept
      : owner_(tag), permits_(permits), bound_(bound) {}

 private:
  bool acquire_until(detail::time_point deadline);
  bool try_acquire_shared();
  bool acquire_shared(detail::time_point deadline);
  std::size_t available_shared() const;

  detail::sync_owner owner_;
  // Invariant: permits_ > 0 only while no fiber waits (release hands permits to waiters).
  std::size_t permits_;
  std::size_t bound_ = std::numeric_limits<std::size_t>::max();
  detail::wait_queue waiters_{detail::wait_kind::semaphore};
};

/// A semaphore whose release() throws grove::error if it would hold more than its initial
/// permits: catches a release without a matching acquire.
class bounded_semaphore : public semaphore {
 public:
  /// A semaphore holding, and never more than, `permits` permits.
  explicit bounded_semaphore(std::size_t permits = 1) noexcept : semaphore(permits, permits) {}
  /// As above, shared by fibers of every hub and plain threads.
  bounded_semaphore(std::size_t permits, cross_thread_t tag) noexcept
      : semaphore(permits, permits, tag) {}
};

}  // namespace grove
