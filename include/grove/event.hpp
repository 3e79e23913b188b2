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
// honour kill() and grove::timeout. Usable with grove::wait_all / grove::wait_any. Not copyable
// or movable: waiting fibers point into it.
#pragma once

#include <chrono>

#include <grove/detail/awaitable.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove {

/// A settable flag fibers wait on.
class event {
 public:
  event() noexcept = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  /// Sets the flag and wakes every waiting fiber.
  void set() noexcept;
  /// Resets the flag; later waits block until the next set().
  void clear() noexcept { set_ = false; }
  /// True while the flag is set.
  bool is_set() const noexcept { return set_; }

  /// Waits until the flag is set (returns at once if it is).
  void wait() { wait_until_deadline(detail::no_deadline); }
  /// Waits at most `d`; true if the flag was set.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) {
    return wait_until_deadline(detail::deadline_after(d));
  }
  /// Waits until `t` at the latest; true if the flag was set.
  template <class Clock, class Duration>
  bool wait_until(std::chrono::time_point<Clock, Duration> t) {
    return wait_until_deadline(detail::deadline_at(t));
  }

 private:
  friend struct detail::awaitable<event>;
  bool wait_until_deadline(detail::time_point deadline);

  bool set_ = false;
  detail::wait_queue waiters_{"grove::event"};
};

template <>
struct detail::awaitable<event> {
  static bool ready(const event& e) noexcept { return e.is_set(); }
  static wait_queue* queue(event& e) noexcept { return &e.waiters_; }
};

}  // namespace grove
