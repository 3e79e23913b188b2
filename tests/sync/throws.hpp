// The sync tests' way to check that a grove wait throws: the wait runs outside doctest's CHECK
// (a check catches whatever its expression throws, a kill, grove::fiber_killed, included).
#pragma once

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

}  // namespace grove_test
