// An intrusive FIFO of suspended fibers: the building block of every grove primitive.
//
// Example (an event's wait):
//   detail::wait_node node;                 // lives on the waiting fiber's stack
//   waiters_.push_back(node);
//   auto why = detail::suspend(deadline);   // node unlinks itself when it goes out of scope
//
// Wakers pop with pop_waiting(), which skips (and unlinks) nodes whose fiber was already woken
// by something else (a kill, a timeout), so no wake-up is ever lost on a dead waiter. A node
// is tied to one suspension (push_back takes the fiber's wake_token): a waker can only end the
// wait the node was queued for, and records in `status` what it handed over.
//
// Destroying a queue while fibers wait in it (an event, a mutex, a channel... destroyed under
// its waiters, e.g. by a fiber that owned it and was killed) wakes each of them with
// wake_reason::abandoned: their wait throws grove::error naming the primitive ("grove::event
// destroyed while a fiber waited on it"), rather than hanging forever on memory that is gone.
// std::mutex calls this undefined behaviour; a fiber library can afford to say what happened.
// The waiter must not touch the primitive afterwards: every wait returns by throwing.
#pragma once

#include <cstddef>
#include <cstdint>

#include <grove/detail/suspension.hpp>

namespace grove::detail {

/// One fiber's place in a wait_queue; unlinks itself on destruction.
struct wait_node {
  wait_node() noexcept;
  ~wait_node() { unlink(); }
  wait_node(const wait_node&) = delete;
  wait_node& operator=(const wait_node&) = delete;

  /// Removes the node from its queue, if it is in one.
  void unlink() noexcept;
  /// True while the node is in a queue.
  bool linked() const noexcept { return queue != nullptr; }
  /// The suspension this node wakes.
  wake_token token() const noexcept { return {fiber, suspension}; }
  /// Ties the (still queued) node to the fiber's next suspension: for a wait that suspends
  /// again with the same node.
  void renew() noexcept;

  wait_node* prev = nullptr;
  wait_node* next = nullptr;
  struct wait_queue* queue = nullptr;
  fiber_base* fiber;             ///< the waiting fiber (the current one at construction)
  std::uint64_t suspension = 0;  ///< which of its suspensions (taken by push_back)
  void* payload = nullptr;       ///< for the primitive: e.g. where a channel hands over a value
  std::uint8_t status = 0;       ///< for the primitive: e.g. "served" / "closed"
};

/// Intrusive FIFO of wait_nodes. Not thread-safe: all users run on one hub.
struct wait_queue {
  /// A queue of the primitive `owner` (a static string, named in the abandoned waiters' error).
  explicit wait_queue(const char* owner = "a grove primitive") noexcept : owner_(owner) {}
  wait_queue(const wait_queue&) = delete;
  wait_queue& operator=(const wait_queue&) = delete;
  /// Wakes every fiber still waiting in the queue with wake_reason::abandoned.
  ~wait_queue();

  /// True if no node is queued (stale nodes of already-woken fibers count until popped).
  bool empty() const noexcept { return head_ == nullptr; }
  /// Number of queued nodes.
  std::size_t size() const noexcept { return size_; }
  /// Appends `node`, tied to its fiber's next suspension.
  void push_back(wait_node& node) noexcept;
  /// Removes `node` (must be in this queue).
  void remove(wait_node& node) noexcept;
  /// Unlinks and returns the first node whose fiber is still suspended, or nullptr.
  wait_node* pop_waiting() noexcept;
  /// Serves the first waiting node (status `served`) and wakes it; false if there was none.
  bool notify_one() noexcept;
  /// Serves and wakes every waiting node; returns how many.
  std::size_t notify_all() noexcept;
  /// Suspends the current fiber in this queue until notify_one/notify_all (or a hand-off)
  /// served its node (true) or `deadline` passed (false). A wake that served nothing does not
  /// end the wait. Throws like suspend() on kill / scoped timeout.
  bool wait(time_point deadline = no_deadline);

  /// The status notify_one / notify_all record (handoff::done's value).
  static constexpr std::uint8_t served = 1;

  /// The primitive this queue belongs to.
  const char* owner() const noexcept { return owner_; }

 private:
  const char* owner_;
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace grove::detail
