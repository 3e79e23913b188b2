// The tests' way to check that a grove wait throws: the wait runs outside doctest's assertions
// (a CHECK evaluates its expression inside its own try/catch, which would swallow a kill,
// grove::fiber_killed, and report a suspension's failures as the check's), and the check looks
// at what it threw afterwards.
#pragma once

#include <exception>

namespace grove_test {

/// True if `fn()` throws an E; anything else it throws goes on.
template <class E, class Fn>
bool throws(Fn fn) {
  try {
    fn();
  } catch (const E&) {
    return true;
  }
  return false;
}

/// The E that `fn()` throws, or null if it returns; anything else it throws goes on.
template <class E, class Fn>
std::exception_ptr thrown(Fn fn) {
  try {
    fn();
  } catch (const E&) {
    return std::current_exception();
  }
  return nullptr;
}

/// Throws `error` again if it holds one: CHECK_THROWS_WITH_AS(rethrow(thrown<E>(...)), ...)
/// checks the message of a wait that already ran.
inline void rethrow(const std::exception_ptr& error) {
  if (error) std::rethrow_exception(error);
}

}  // namespace grove_test
