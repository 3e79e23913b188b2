// Scoped timeouts (gevent's Timeout): any grove suspension inside the scope after the deadline
// throws grove::timeout_error. Nested scopes each keep their own deadline; the error says which
// one expired, so an outer timeout is never mistaken for an inner one.
//
// Example:
//   grove::timeout t(500ms);
//   try {
//     auto line = conn.read_until('\n');   // any grove wait
//   } catch (const grove::timeout_error& e) {
//     if (!e.from(t)) throw;                // an outer timeout: not ours to handle
//     ...
//   }
//   auto v = grove::with_timeout(1s, [] { return slow(); });          // throws on expiry
//   auto w = grove::with_timeout(1s, [] { return slow(); }, -1);      // -1 on expiry
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <grove/detail/deadline.hpp>
#include <grove/detail/suspension.hpp>
#include <grove/detail/timer_node.hpp>
#include <grove/error.hpp>

namespace grove {

class timeout;

namespace detail {
/// The state of one grove::timeout scope, linked into its fiber's list of active scopes.
struct scoped_timeout : timer_node {
  fiber_base* owner = nullptr;
  scoped_timeout* outer = nullptr;  ///< doubly linked: scopes may end out of order (optional<>)
  scoped_timeout* inner = nullptr;
  std::uint64_t serial = 0;
  std::chrono::nanoseconds duration{};
  bool expired = false;
};
}  // namespace detail

/// Thrown at a suspension point inside an expired grove::timeout scope.
class timeout_error : public error {
 public:
  /// Built by grove for the scope with `serial`; `what` names its duration.
  timeout_error(const std::string& what, std::uint64_t serial) : error(what), serial_(serial) {}
  /// True if `t` is the scope whose deadline caused this error.
  bool from(const timeout& t) const noexcept;

 private:
  std::uint64_t serial_;
};

/// A deadline for the enclosing scope of the calling fiber. Not movable: it lives on the stack.
class timeout {
 public:
  /// Starts a timeout of `d` for the calling fiber (throws grove::error outside a fiber).
  template <class Rep, class Period>
  explicit timeout(std::chrono::duration<Rep, Period> d)
      : timeout(detail::saturating_ticks(d), 0) {}
  timeout(const timeout&) = delete;
  timeout& operator=(const timeout&) = delete;
  /// Ends the scope and cancels its timer.
  ~timeout();

  /// True once the deadline has passed (while the scope is active).
  bool expired() const noexcept { return state_.expired; }
  /// The deadline.
  detail::time_point deadline() const noexcept { return state_.when; }

 private:
  friend class timeout_error;
  timeout(std::chrono::nanoseconds d, int);
  detail::scoped_timeout state_;
};

inline bool timeout_error::from(const timeout& t) const noexcept {
  return t.state_.serial == serial_;
}

/// Runs `fn()` under a timeout of `d`: its result, or timeout_error if this timeout expired.
template <class Rep, class Period, class Fn>
auto with_timeout(std::chrono::duration<Rep, Period> d, Fn&& fn) -> std::invoke_result_t<Fn&> {
  timeout t(d);
  return fn();
}

/// Runs `fn()` under a timeout of `d`: its result, or `fallback` if this timeout expired (an
/// outer timeout's expiry still propagates).
template <class Rep, class Period, class Fn, class T>
auto with_timeout(std::chrono::duration<Rep, Period> d, Fn&& fn, T&& fallback)
    -> std::invoke_result_t<Fn&> {
  timeout t(d);
  try {
    return fn();
  } catch (const timeout_error& e) {
    if (!e.from(t)) throw;
    return std::forward<T>(fallback);
  }
}

}  // namespace grove
