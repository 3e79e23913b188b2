// The hand-off protocol every sync primitive follows on top of wait_queue.
//
// A waker pops a waiter with wait_queue::pop_waiting(), completes the operation on the waiter's
// behalf (gives it the permit or the lock, writes the value through node.payload, takes the
// value the waiter offered), records the outcome in node.status and wakes it with `notified`.
// Both steps happen together on the hub thread, so the woken waiter never re-checks and cannot
// lose what it was handed: a kill or timeout arriving afterwards finds the fiber already woken
// and is raised at its next suspension. A waiter woken by a kill or timeout instead is skipped
// by pop_waiting(), so it never consumes a hand-off meant for another.
//
// Across threads (a primitive shared with grove::cross_thread, see sync_owner.hpp) the shape is
// the same: the primitive's lock guards its state and queues, the hand-off is made under it,
// and wake_node() posts the wake to the waiter's hub (or signals a plain thread). Because the
// wake lands later, a kill may win the race on the waiter's hub; the waiter then reads the
// node's status under the lock and, if it was served, keeps the result and leaves the kill
// pending, exactly as a served waiter does on one hub.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include <grove/detail/wait_queue.hpp>

namespace grove::detail {

/// What a waker did for a waiter, stored in wait_node::status.
enum class handoff : std::uint8_t {
  pending = 0,  ///< not served yet
  done = wait_queue::served,  ///< the operation completed on the waiter's behalf
  closed = 2,   ///< the primitive was closed: the operation cannot complete
  retry = 3,    ///< the hand-off failed (a throwing copy or move): try again
};

/// Records `outcome` in a popped waiter's node and wakes its fiber.
inline void hand_off(wait_node& node, handoff outcome) noexcept {
  node.status = static_cast<std::uint8_t>(outcome);
  wake_node(node);
}

/// The outcome recorded in `node`.
inline handoff outcome_of(const wait_node& node) noexcept {
  return static_cast<handoff>(node.status);
}

/// An item a giver offers (put / send): the taker copies or moves it out of the giver's frame,
/// so nothing is copied until the transfer really happens.
template <class T>
class offer {
 public:
  /// Offers a copy of `item`.
  static offer copy_of(const T& item) noexcept {
    static_assert(std::is_copy_constructible_v<T>, "this item type can only be moved in");
    return offer(const_cast<T*>(&item), false);
  }
  /// Offers `item` itself (it is moved from only if the transfer happens).
  static offer move_of(T& item) noexcept { return offer(&item, true); }
  /// Builds the T handed over.
  T take() {
    if constexpr (std::is_copy_constructible_v<T>) {
      if (!movable_) return T(static_cast<const T&>(*item_));
    }
    return T(std::move(*item_));
  }

 private:
  offer(T* item, bool movable) noexcept : item_(item), movable_(movable) {}
  T* item_;
  bool movable_;
};

}  // namespace grove::detail
