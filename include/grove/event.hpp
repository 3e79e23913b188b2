// grove::event: a flag fibers can wait for (gevent's Event, Python's threading.Event).
//
// Example:
//   grove::event ready;
//   auto waiter = grove::spawn([&] {
//     if (ready.wait_for(1s)) std::puts("go");      // false after 1 s without set()
//   });
//   ready.set();                                    // wakes every waiter; stays set
//   ready.clear();                                  // later waits block again
//
// set() wakes every fiber waiting at that moment; each of them returns true even if the event
// is cleared again before it runs. set() and clear() may be called from hub callbacks. Waits
// honour kill() and grove::timeout. Usable with grove::wait_all / grove::wait_any (on its own
// hub). Not copyable or movable: waiting fibers point into it.
//
// An event belongs to the hub that made it, unless made with grove::cross_thread: then fibers
// of any hub and plain threads may set and wait on it (a plain thread blocks, like
// std::condition_variable). See <grove/cross_thread.hpp>.
#pragma once

#include <atomic>
#include <chrono>
#include <source_location>

#include <grove/cross_thread.hpp>
#include <grove/detail/awaitable.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove {

/// A settable flag fibers wait on.
class event {
 public:
  /// An event of the running hub.
  event() noexcept = default;
  /// An event fibers of any hub and plain threads may set and wait on.
  explicit event(cross_thread_t tag) noexcept : owner_(tag) {}
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  /// A shared event wakes its waiters (any hub, plain threads) with grove::error naming it and
  /// returns once they have left (see <grove/cross_thread.hpp>).
  ~event() {
    if (owner_.shared()) [[unlikely]]
      owner_.abandon_waiters(waiters_);
  }

  /// Sets the flag and wakes every waiting fiber (or thread).
  void set();
  /// Resets the flag; later waits block until the next set().
  void clear() noexcept { set_.store(false, std::memory_order_relaxed); }
  /// True while the flag is set.
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

  /// Waits until the flag is set (returns at once if it is).
  void wait(std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    wait_until_deadline(detail::no_deadline);
  }
  /// Waits at most `d`; true if the flag was set.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d, std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    return wait_until_deadline(detail::deadline_after(d));
  }
  /// Waits until `t` at the latest; true if the flag was set.
  template <class Clock, class Duration>
  bool wait_until(std::chrono::time_point<Clock, Duration> t, std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    return wait_until_deadline(detail::deadline_at(t));
  }

 private:
  friend struct detail::awaitable<event>;
  bool wait_until_deadline(detail::time_point deadline);
  bool wait_shared(detail::time_point deadline);

  detail::sync_owner owner_;
  std::atomic<bool> set_{false};
  detail::wait_queue waiters_{detail::wait_kind::event};
};

template <>
struct detail::awaitable<event> {
  static bool ready(const event& e) noexcept { return e.is_set(); }
  static wait_queue* queue(event& e) noexcept { return &e.waiters_; }
  static const sync_owner* owner(event& e) noexcept { return &e.owner_; }
};

}  // namespace grove
