// The part of a hub other threads may touch (issue 11): shared by the hub, every grove::hub_ref
// and every cross-thread wake in flight, so it outlives the hub.
//
// Work from other threads (a wake of a (fiber, token) pair, a posted task, a finished offload
// call or use_fiber operation, a dump request) goes into `inbox`, a lock-free multi-producer
// list the hub drains in its loop: a poster pays one compare-and-swap, no lock and no system
// call while the hub is awake or spinning. Only a hub that has announced it is going to sleep
// in its reactor (`sleeping`) is interrupted, by the one poster that clears the flag. The handshake
// is Dekker's, all seq_cst: the hub stores `sleeping` then looks at the inbox; a poster pushes then
// reads `sleeping`. One of the two sees the other, so a wake is never lost (docs/architecture.md,
// "Threads"). A waker of a watched waiter (remote_waiter in <grove/detail/sync_owner.hpp>) sets the
// waiter's flag instead of pushing: the hub looks at those flags wherever it looks at the inbox,
// with the same handshake. When the hub begins to end it refuses new tasks
// (`refusing_tasks`: hub_ref::post returns false, spawn throws) but still takes wakes: a fiber it
// is killing may sit in a wait a kill cannot end (shielded, or relocking a shared mutex as it
// unwinds) and needs its wake to finish. Only once its loop has returned does the hub close the
// inbox (and clear `hub` under `mutex`): later pushes fail, nothing is ever posted into a dead
// io_context, and what was accepted but never ran is destroyed unrun on the hub's thread.
#pragma once

#include <atomic>
#include <boost/asio/detail/scheduler_operation.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <grove/detail/sync_owner.hpp>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>

#include "core/hub_impl.hpp"

namespace grove::detail {

/// A lock-free multi-producer, single-consumer list of inbox_items (a Treiber stack the consumer
/// takes whole, so there is no ABA), which can be closed once.
class remote_inbox {
 public:
  /// Adds `item` (any thread); false, and `item` untouched, once closed.
  bool push(inbox_item* item) noexcept {
    inbox_item* head = head_.load(std::memory_order_relaxed);
    do {
      if (head == closed()) return false;
      item->next = head;
    } while (!head_.compare_exchange_weak(head, item, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
    return true;
  }
  /// True if an item may be waiting (the consumer's cheap test).
  bool has_items() const noexcept {
    inbox_item* head = head_.load(std::memory_order_relaxed);
    return head != nullptr && head != closed();
  }
  /// The same test, ordered after the consumer's store of `sleeping` (the handshake).
  bool has_items_seq_cst() const noexcept {
    inbox_item* head = head_.load(std::memory_order_seq_cst);
    return head != nullptr && head != closed();
  }
  /// Takes every item, oldest first (the consumer).
  inbox_item* take_all() noexcept {
    if (!has_items()) return nullptr;
    return reverse(head_.exchange(nullptr, std::memory_order_acquire));
  }
  /// Closes the inbox and takes what it held, oldest first (the consumer, once).
  inbox_item* close() noexcept {
    inbox_item* head = head_.exchange(closed(), std::memory_order_acquire);
    return head == closed() ? nullptr : reverse(head);
  }

 private:
  static inbox_item* closed() noexcept { return reinterpret_cast<inbox_item*>(std::uintptr_t{1}); }
  static inbox_item* reverse(inbox_item* head) noexcept {
    inbox_item* fifo = nullptr;
    while (head) {
      inbox_item* next = head->next;
      head->next = fifo;
      fifo = head;
      head = next;
    }
    return fifo;
  }
  std::atomic<inbox_item*> head_{nullptr};
};

/// The handler interrupt_hub() queues in the hub's io_context to end its reactor wait: one per
/// hub, in the queue at most once at a time (`queued`), so that a wake never allocates (an
/// asio::post would, on the waker's thread, inside noexcept wake paths). Asio's scheduler is
/// reached through its detail API (Boost 1.81: post_immediate_completion, the call asio::post
/// itself ends in); running or discarding the operation only clears `queued`.
struct interrupt_operation final : boost::asio::detail::scheduler_operation {
  interrupt_operation() noexcept : scheduler_operation(&done) {}
  std::atomic<bool> queued{false};

 private:
  static void done(void*, scheduler_operation* self, const boost::system::error_code&,
                   std::size_t) noexcept {
    static_cast<interrupt_operation*>(self)->queued.store(false, std::memory_order_release);
  }
};

struct hub_control : std::enable_shared_from_this<hub_control> {
  std::mutex mutex;         ///< guards `hub` (the interrupt's slow path)
  hub_impl* hub = nullptr;  ///< null once the hub's loop has returned
  /// Queued by interrupt_hub(); outlives the io_context (which discards it if still queued).
  interrupt_operation interrupt;
  /// Set when the hub begins to end: tasks and spawns from other threads are refused, wakes not.
  std::atomic<bool> refusing_tasks{false};
  // Posters write the inbox and read the flag, the hub the other way round: one cache line,
  // away from the mutex.
  alignas(64) remote_inbox inbox;
  std::atomic<bool> sleeping{false};  ///< the hub is (about to be) blocked in its reactor
  /// Set, to itself, when the hub abandons fibers it could not end (hub_impl::on_deadlock), and
  /// never dropped: work on another thread may still name such a fiber and post to this control
  /// after the hub has gone (a use_fiber operation completing late), and must find it refusing.
  std::shared_ptr<hub_control> kept_for_abandoned;
};

/// Wakes the hub out of its reactor (it announced `sleeping`); a no-op once it has ended.
/// Allocates nothing and cannot fail (see interrupt_operation).
void interrupt_hub(hub_control& control) noexcept;

/// Adds `item` to the hub's inbox and interrupts the hub if it sleeps; false (and `item` left
/// to the caller) if the hub has begun to end.
inline bool post_item(hub_control& control, inbox_item* item) noexcept {
  if (!control.inbox.push(item)) return false;
  // Read first: while the hub is awake the flag stays false and the line stays shared.
  if (control.sleeping.load(std::memory_order_seq_cst) &&
      control.sleeping.exchange(false, std::memory_order_seq_cst)) {
    interrupt_hub(control);
  }
  return true;
}

template <class Handler>
struct inbox_handler final : inbox_item {
  Handler handler;
  template <class H>
  explicit inbox_handler(H&& h) : handler(std::forward<H>(h)) {
    invoke = &call;
  }
  static void call(inbox_item* item, bool run) noexcept {
    auto* self = static_cast<inbox_handler*>(item);
    if (run) self->handler();
    delete self;
  }
};

/// Posts `handler` (a noexcept callable) to run on the hub's thread; false (handler dropped
/// here) if it has ended. A handler the hub accepted but never ran (the hub ended first) is
/// destroyed on its thread.
template <class Handler>
bool post_to(hub_control& control, Handler&& handler) {
  using item_type = inbox_handler<std::decay_t<Handler>>;
  static_assert(std::is_nothrow_invocable_v<std::decay_t<Handler>&>,
                "a handler posted to a hub runs in its loop and must not throw");
  auto* item = new item_type(std::forward<Handler>(handler));
  if (post_item(control, item)) return true;
  delete item;
  return false;
}

}  // namespace grove::detail
