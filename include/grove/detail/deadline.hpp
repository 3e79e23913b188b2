// Deadlines from durations and time points, for every timed wait: saturating, so "forever"
// (hours::max()) stays forever instead of overflowing into the past.
#pragma once

#include <chrono>
#include <type_traits>

#include <grove/detail/suspension.hpp>

namespace grove::detail {

/// `d` in clock ticks (rounded up), saturating at the largest duration instead of overflowing.
template <class Rep, class Period>
constexpr clock::duration saturating_ticks(std::chrono::duration<Rep, Period> d) noexcept {
  using wide = std::chrono::duration<long double>;
  if (wide(d) >= wide(clock::duration::max())) return clock::duration::max();
  if (wide(d) <= wide(clock::duration::min())) return clock::duration::min();
  return std::chrono::ceil<clock::duration>(d);
}

/// A deadline that never happens: a "try" operation gives up instead of waiting.
inline constexpr time_point no_wait = time_point::min();

/// now + d, rounded up to the clock's tick; a non-positive `d` gives no_wait, a huge one
/// no_deadline (instead of overflowing).
template <class Rep, class Period>
time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  if (d <= d.zero()) return no_wait;
  time_point now = clock::now();
  clock::duration ticks = saturating_ticks(d);
  if (ticks >= no_deadline - now) return no_deadline;
  return now + ticks;
}

/// The steady-clock deadline for `t`; other clocks are converted through their own now().
template <class Clock, class Duration>
time_point deadline_at(std::chrono::time_point<Clock, Duration> t) noexcept {
  if constexpr (std::is_same_v<Clock, clock>) {
    return time_point(saturating_ticks(t.time_since_epoch()));
  } else {
    return deadline_after(t - Clock::now());
  }
}

/// True if a wait with `deadline` must not suspend (a try, or a deadline already past).
inline bool deadline_passed(time_point deadline) noexcept {
  return deadline != no_deadline && (deadline == no_wait || deadline <= clock::now());
}

}  // namespace grove::detail
