// Who may touch a synchronization primitive, and the lock it takes when shared across threads
// (the rule is in <grove/cross_thread.hpp> and docs/architecture.md, "Threads").
//
// A primitive made on a hub records that hub (made outside any hub, none); its operations compare
// it with the running hub (a thread-local load and a compare or two) and, when equal (or none),
// run exactly as before: no lock, wake by token. A shared primitive records `shared_owner` and
// takes `lock_` around every operation; its waiters queue a remote_waiter with their node
// (lib/core/cross_thread.cpp), and a waker wakes them through wake_node(): directly on the same
// hub, by a post to the waiter's hub otherwise, or through a futex for a plain thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <grove/cross_thread.hpp>
#include <grove/detail/inbox_item.hpp>
#include <grove/detail/suspension.hpp>
#include <grove/detail/wait_queue.hpp>
#include <initializer_list>
#include <vector>

namespace grove::detail {

struct hub_control;

// The running hub of this thread (lib/core/hub.cpp): read inline by the ownership test.
extern thread_local hub_impl* t_hub __attribute__((tls_model("initial-exec")));

/// How a waker on any thread wakes one waiter of a shared primitive (lib/core/cross_thread.cpp):
/// on the waiter's stack while it waits, one cache line, so that a wake moves the waiter's own
/// lines between CPUs and allocates nothing. Three ways, by what waits:
/// - a fiber its hub watches (`watched`, hub_impl::watch): the waker sets `signalled`, which
///   the hub polls beside its inbox (no hub-wide line changes hands);
/// - any other fiber: the waiter is itself the inbox_item the waker pushes (`posted`); its hub
///   runs it (`item_ran`) to wake `token`, and the waiter leaves its wait only after that;
/// - a plain thread (no fiber): the waker sets `signalled` and wakes the futex on it.
/// The waker reads and writes it only under the primitive's lock, which the waiter takes
/// before it leaves; `token` and `item_ran` belong to the waiter's thread.
struct alignas(64) remote_waiter final : inbox_item {
  remote_waiter() noexcept { invoke = &ran; }
  remote_waiter(const remote_waiter&) = delete;
  remote_waiter& operator=(const remote_waiter&) = delete;
  fiber_base* fiber = nullptr;     ///< null: a plain thread
  hub_impl* home = nullptr;        ///< the fiber's hub (alive while the fiber waits)
  hub_control* control = nullptr;  ///< its control
  wake_token token;                ///< the suspension a posted or watched wake ends
  std::atomic<std::uint32_t> signalled{0};
  bool watched = false;   ///< the hub polls `signalled` (set before queueing)
  bool posted = false;    ///< pushed to the hub's inbox (set by the waker, under the lock)
  bool item_ran = false;  ///< the hub has run the posted item

 private:
  static void ran(inbox_item* item, bool run) noexcept;
};

/// A waiter's node and its remote_waiter side by side: the two cache lines a waker on another
/// CPU touches, adjacent (primitives whose wait is hot across threads declare one).
struct remote_wait_node {
  alignas(64) wait_node node;
  remote_waiter remote;
};

/// A test-and-test-and-set lock for critical sections of a few pointer writes; never held
/// across a suspension. Yields the CPU when it has spun a while (the holder may be preempted).
class spin_lock {
 public:
  void lock() noexcept {
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]]
      return;
    lock_slow();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  void lock_slow() noexcept;
  std::atomic<bool> locked_{false};
};

/// The owner of a primitive: its hub, or shared.
class sync_owner {
 public:
  /// Owned by the running hub; made outside any hub, owned by none (one thread at a time uses
  /// it, unchecked, as before threads were considered).
  sync_owner() noexcept : owner_(t_hub) {}
  /// Shared across threads.
  explicit sync_owner(cross_thread_t) noexcept : owner_(shared_owner()) {}
  sync_owner(const sync_owner&) = delete;
  sync_owner& operator=(const sync_owner&) = delete;

  /// True when the running thread's hub owns the primitive, or no hub does: no lock, the
  /// single-hub path.
  bool local() const noexcept { return owner_ == t_hub || !owner_; }
  /// True for a shared primitive.
  bool shared() const noexcept { return owner_ == shared_owner(); }
  /// For a primitive that is not local: locks it if shared, else throws grove::error (it
  /// belongs to another hub).
  void lock_shared() const;
  void unlock_shared() const noexcept { lock_.unlock(); }

  /// For a shared primitive's destructor: wakes every waiter still in `queue` (a fiber of any
  /// hub or a plain thread) so that its wait throws grove::error naming the primitive, and
  /// returns once each has left it (it never touches the primitive afterwards), as
  /// wait_queue's destructor does on one hub. Called in a fiber, it lets its own hub's waiters
  /// run meanwhile; in a hub callback while a fiber of that hub waits, it aborts with a message
  /// (they could never leave).
  void abandon_waiters(wait_queue& queue) const noexcept { abandon_waiters({&queue}); }
  /// The same for a primitive with several queues (a channel's takers, givers and joiners).
  void abandon_waiters(std::initializer_list<wait_queue*> queues) const noexcept;

 private:
  friend std::uint8_t wait_in(class sync_guard&, wait_queue&, wait_node&, remote_waiter&,
                              time_point, bool, const void*);
  friend class multi_lock;
  static hub_impl* shared_owner() noexcept {
    return reinterpret_cast<hub_impl*>(std::uintptr_t{1});
  }
  hub_impl* owner_;
  mutable spin_lock lock_;
  /// Set by abandon_waiters() under lock_, with the kind of its first queue (what the error
  /// names): a waiter that wakes to go round again (a hand-off that failed, a multi-wait whose
  /// claim another primitive's waker took) leaves by throwing instead. In the padding after
  /// lock_: no byte added.
  mutable bool abandoned_ = false;
  mutable wait_kind abandoned_kind_ = wait_kind::unknown;
  /// Waiters inside wait_in() (shared only; changed under lock_): abandon_waiters() waits for 0.
  mutable std::atomic<std::uint32_t> waiting_{0};
};

/// Shared primitives' locks this thread holds (sync_guard). While any is held, a waker defers
/// the system call that interrupts a sleeping hub or wakes a plain thread's futex until the
/// last one is released: a syscall under a spinlock stalls every thread spinning on it
/// (lib/core/cross_thread.cpp).
extern thread_local std::uint32_t t_shared_locks __attribute__((tls_model("initial-exec")));
extern thread_local bool t_interrupts_deferred __attribute__((tls_model("initial-exec")));
/// Interrupts the hubs and wakes the plain threads a waker deferred (see t_shared_locks).
void run_deferred_interrupts() noexcept;

/// Holds a primitive's lock when it is not local (see sync_owner); nothing when local.
class sync_guard {
 public:
  explicit sync_guard(const sync_owner& owner) : owner_(owner.local() ? nullptr : &owner) {
    if (owner_) {
      owner_->lock_shared();
      ++t_shared_locks;
    }
  }
  ~sync_guard() {
    if (locked_ && owner_) release();
  }
  sync_guard(const sync_guard&) = delete;
  sync_guard& operator=(const sync_guard&) = delete;
  /// True when the primitive is shared (the guard holds its lock).
  bool shared() const noexcept { return owner_ != nullptr; }
  /// The primitive's owner when shared, else nullptr.
  const sync_owner* owner() const noexcept { return owner_; }
  void unlock() noexcept {
    if (owner_ && locked_) release();
    locked_ = false;
  }
  void lock() {
    if (owner_ && !locked_) {
      owner_->lock_shared();
      ++t_shared_locks;
    }
    locked_ = true;
  }

 private:
  void release() noexcept {
    owner_->unlock_shared();
    if (--t_shared_locks == 0 && t_interrupts_deferred) run_deferred_interrupts();
  }
  const sync_owner* owner_;
  bool locked_ = true;
};

/// Queues `node` (payload and status already set) in `queue` of a shared primitive whose
/// lock `guard` holds, and waits until a waker hands something over (the node's status), until
/// `deadline`, or until the fiber is killed / times out. Returns with the guard held again and
/// the node out of its queue. A waiter that was served keeps what it was handed even if a kill
/// or timeout came meanwhile (it stays pending, raised at the next wait); otherwise the kill or
/// timeout is thrown, with the guard released. A plain thread (no hub) blocks like std; a hub
/// callback may not wait (grove::error). Returns the node's status (0: the deadline passed).
/// Uninterruptible (`interruptible` false: a mutex re-locked by a condition variable), a kill
/// or timeout stays pending and only the status (or the primitive's end) ends the wait. If the
/// primitive is destroyed meanwhile (abandon_waiters), throws grove::error naming it.
/// `primitive` (default: the queue) is the address grove::dump_fibers shows beside the queue's
/// kind.
std::uint8_t wait_in(sync_guard& guard, wait_queue& queue, wait_node& node, remote_waiter& remote,
                     time_point deadline, bool interruptible = true,
                     const void* primitive = nullptr);
/// wait_in() with the remote_waiter in its own frame.
inline std::uint8_t wait_in(sync_guard& guard, wait_queue& queue, wait_node& node,
                            time_point deadline, bool interruptible = true,
                            const void* primitive = nullptr) {
  remote_waiter remote;
  return wait_in(guard, queue, node, remote, deadline, interruptible, primitive);
}
/// wait_in() with the node and the remote_waiter side by side.
inline std::uint8_t wait_in(sync_guard& guard, wait_queue& queue, remote_wait_node& waiter,
                            time_point deadline, bool interruptible = true,
                            const void* primitive = nullptr) {
  return wait_in(guard, queue, waiter.node, waiter.remote, deadline, interruptible, primitive);
}

/// The locks of the shared primitives one multi-wait (grove::select, grove::wait_any /
/// wait_all) touches, and the one suspension it waits in: Go's select, learnt from
/// runtime/select.go. The locks are taken together, in address order (two multi-waits never
/// deadlock; a primitive named twice is locked once), so the caller polls every source and
/// queues a node in each while no waker can act on any of them: none is missed. wait() then
/// gives every queued node one claim word and suspends once; wakers on any thread race for the
/// word in pop_waiting(), so exactly one of them serves the wait (a channel case happens, an
/// event wakes it) and the others skip its nodes. On return the locks are held again and every
/// node is out of its queue, so the caller reads what it was handed (the nodes' status) knowing
/// nothing can change it any more. Sources of the caller's own hub (local) need no lock: their
/// wakers run on this thread, never during the arming.
class multi_lock {
 public:
  multi_lock() noexcept = default;
  ~multi_lock() { unlock(); }
  multi_lock(const multi_lock&) = delete;
  multi_lock& operator=(const multi_lock&) = delete;

  /// Adds the lock of `owner` unless it is local; throws grove::error if it belongs to another
  /// hub (as every operation on it would).
  void add(const sync_owner& owner);
  /// True if some source is shared (otherwise the single-hub path applies, unchanged).
  bool any() const noexcept { return count_ != 0; }
  /// Takes every lock, in address order.
  void lock() noexcept;
  /// Releases them (a no-op when not held).
  void unlock() noexcept;

  /// With the locks held and the not-ready sources' nodes queued (`nodes[0..count)`: those
  /// linked now), waits until a waker serves one (its status says what it handed over; the
  /// first of them wins), `deadline`, a kill or a timeout. Returns why (like
  /// suspend_noexcept()), with the locks held and every node unlinked. A plain thread blocks
  /// (kills do not reach it); a hub callback may not wait (grove::error). If one of the shared
  /// primitives is destroyed meanwhile (abandon_waiters), throws grove::error naming it, unless
  /// `served_is_final` and another node was served for good (a select's case happened).
  wake_reason wait(wait_node* nodes, std::size_t count, time_point deadline, waiting_on on,
                   bool served_is_final = true);

 private:
  const sync_owner** owners() noexcept { return more_.empty() ? few_ : more_.data(); }
  const sync_owner* few_[8];
  std::vector<const sync_owner*> more_;  ///< all of them, beyond 8
  std::size_t count_ = 0;
  bool sorted_ = false;
  bool locked_ = false;
};

/// The node status abandon_waiters() hands over: the primitive is being destroyed.
inline constexpr std::uint8_t abandoned_status = 0xff;

}  // namespace grove::detail
