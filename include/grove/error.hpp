// grove's error types.
//
// Every error grove throws derives from grove::error, except grove::fiber_killed: like gevent's
// GreenletExit (a BaseException), it is deliberately *not* a std::exception, so that a generic
// `catch (const std::exception&)` in user code does not swallow a kill.
//
// Example:
//   try { grove::with_timeout(1s, [] { work(); }); }
//   catch (const grove::timeout_error& e) { log(e.what()); }
#pragma once

#include <stdexcept>

namespace grove {

/// Base class of the errors grove throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown when a fiber stack cannot be mapped (ENOMEM, vm.max_map_count); the text says how to fix it.
class stack_error : public error {
 public:
  using error::error;
};

/// Thrown by fiber<T>::get() when the fiber was killed before it produced a value.
class killed_error : public error {
 public:
  using error::error;
};

/// Raised inside a fiber at its current or next suspension point after fiber<T>::kill().
/// Let it propagate: the fiber unwinds (RAII runs) and ends quietly.
class fiber_killed {
 public:
  /// A fixed description, for logging.
  const char* what() const noexcept { return "grove::fiber_killed"; }
};

}  // namespace grove
