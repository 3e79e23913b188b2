// An entry in the hub's timer heap (sleeps, wait deadlines, scoped timeouts, call_later).
#pragma once

#include <cstdint>

#include <grove/detail/suspension.hpp>

namespace grove::detail {

/// Base of everything the hub can fire at a deadline. Owned by whoever armed it.
struct timer_node {
  static constexpr std::uint32_t not_armed = UINT32_MAX;

  /// Called once by the hub when `when` has passed (the node is already out of the heap).
  void (*fire)(timer_node*) noexcept = nullptr;
  time_point when = no_deadline;
  /// Tie-breaker so equal deadlines fire in arming order.
  std::uint64_t sequence = 0;
  // Last, so that a derived class can use the 4 bytes of tail padding (fiber_base does).
  std::uint32_t heap_index = not_armed;

  /// True while the node is in a hub's heap.
  bool armed() const noexcept { return heap_index != not_armed; }
};

/// Arms `node` on the current hub to fire at node.when.
void arm_timer(timer_node& node);
/// Disarms `node` if it is armed (safe to call on a disarmed node).
void disarm_timer(timer_node& node) noexcept;

}  // namespace grove::detail
