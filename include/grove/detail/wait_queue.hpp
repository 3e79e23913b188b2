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
// A queue knows its primitive by the wait_kind that grove::dump_fibers shows for its waits, so
// the primitive's identity is given once: `detail::wait_queue waiters_{wait_kind::event};`.
// std::mutex calls this undefined behaviour; a fiber library can afford to say what happened.
// The waiter must not touch the primitive afterwards: every wait returns by throwing.
#pragma once

#include <atomic>
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

  /// Removes the node from its queue, if it is in one (inline: a woken node is out already, and
  /// the call into the library cost more than the test).
  inline void unlink() noexcept;
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
  /// Set while the node waits in a primitive shared across threads (sync_owner.hpp): how to
  /// wake its fiber or thread from anywhere. Null on the single-hub path.
  struct remote_waiter* remote = nullptr;
  /// Set while the node is one of several queued by one multi-wait over shared primitives
  /// (grove::select, wait_any: sync_owner.hpp's multi_lock): the word its wakers race for, so
  /// that exactly one of them serves it (pop_waiting skips a node whose word was taken).
  std::atomic<std::uint32_t>* claim = nullptr;
  std::uint8_t status = 0;  ///< for the primitive: e.g. "served" / "closed"
};

/// Wakes the waiter of a popped `node` with `notified`: by its token on the single-hub path,
/// through wake_remote() when it waits in a shared primitive (whose lock the caller holds).
void wake_remote(wait_node& node) noexcept;
inline void wake_node(wait_node& node) noexcept {
  if (node.remote) [[unlikely]] {
    wake_remote(node);
  } else {
    wake(node.token(), wake_reason::notified);
  }
}

/// The primitive a wait of `kind` waits on, as an abandoned waiter's error names it (a static
/// string): "grove::event", "grove::mutex"...; "a grove primitive" for kinds that are no object.
constexpr const char* primitive_name(wait_kind kind) noexcept {
  switch (kind) {
    case wait_kind::join:
      return "the fiber being joined";
    case wait_kind::event:
      return "grove::event";
    case wait_kind::future:
      return "grove::future";
    case wait_kind::queue:
      return "grove::queue";
    case wait_kind::channel:
      return "grove::channel";
    case wait_kind::mutex:
      return "grove::mutex";
    case wait_kind::semaphore:
      return "grove::semaphore";
    case wait_kind::condition:
      return "grove::condition_variable";
    case wait_kind::group:
      return "grove::group";
    case wait_kind::server:
      return "grove::net::server";
    case wait_kind::tls_stream:
      return "grove::net::tls_stream";
    default:
      return "a grove primitive";
  }
}

/// Throws grove::error saying that `primitive` (a primitive_name) was destroyed while a fiber
/// waited on it: what every wait whose primitive went under it reports.
[[noreturn]] void throw_destroyed_while_waiting(const char* primitive);

/// Intrusive FIFO of wait_nodes. Not thread-safe: on a primitive shared across threads, the
/// primitive's lock guards it (sync_owner.hpp).
struct wait_queue {
  /// A queue of a primitive of `kind`: what its waits show in grove::dump_fibers (when wait()
  /// is given no kind) and what the abandoned waiters' error names (primitive_name).
  explicit wait_queue(wait_kind kind = wait_kind::unknown) noexcept : kind_(kind) {}
  wait_queue(const wait_queue&) = delete;
  wait_queue& operator=(const wait_queue&) = delete;
  /// Wakes every fiber still waiting in the queue with wake_reason::abandoned.
  ~wait_queue();

  /// True if no node is queued (stale nodes of already-woken fibers count until popped).
  bool empty() const noexcept { return head_ == nullptr; }
  /// The first queued node (stale ones included), or nullptr; follow wait_node::next.
  wait_node* front() const noexcept { return head_; }
  /// Number of queued nodes.
  std::size_t size() const noexcept { return size_; }
  /// Appends `node`, tied to its fiber's next suspension.
  void push_back(wait_node& node) noexcept;
  /// Removes `node` (must be in this queue).
  void remove(wait_node& node) noexcept;
  /// Unlinks and returns the first node whose fiber is still suspended, or nullptr. A node of
  /// a shared primitive's waiter (remote) is returned as it is: that waiter unlinks it under
  /// the lock when it leaves, and keeps what it was handed even if it was killed meanwhile.
  /// A node with a claim word is returned only if this call takes the word (the first of the
  /// multi-wait's wakers); otherwise it is unlinked and skipped.
  wait_node* pop_waiting() noexcept;
  /// Serves the first waiting node (status `served`) and wakes it; false if there was none.
  bool notify_one() noexcept;
  /// Serves and wakes every waiting node; returns how many.
  std::size_t notify_all() noexcept;
  /// Suspends the current fiber in this queue until notify_one/notify_all (or a hand-off)
  /// served its node (true) or `deadline` passed (false). A wake that served nothing does not
  /// end the wait. Throws like suspend() on kill / scoped timeout. `on` without a kind takes
  /// the queue's.
  bool wait(time_point deadline = no_deadline, waiting_on on = {});

  /// The status notify_one / notify_all record (handoff::done's value).
  static constexpr std::uint8_t served = 1;

  /// What kind of primitive this queue belongs to.
  wait_kind kind() const noexcept { return kind_; }
  /// The primitive this queue belongs to, as errors name it.
  const char* owner() const noexcept { return primitive_name(kind_); }

 private:
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
  std::size_t size_ = 0;
  wait_kind kind_;
};

inline void wait_node::unlink() noexcept {
  if (queue) queue->remove(*this);
}

}  // namespace grove::detail
