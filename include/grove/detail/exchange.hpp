// The engine shared by grove::queue (and its lifo / priority variants) and grove::channel: a
// buffer of at most `capacity` items (0: rendezvous), waiting takers and waiting givers.
//
// Invariants: takers wait only while the buffer is empty and no giver waits; givers wait only
// while the buffer is full (always, for a rendezvous) and no taker waits. So a give first
// serves the oldest taker directly, and a take that empties a slot refills it at once from the
// oldest giver: both sides are FIFO and nobody barges past a waiter.
//
// Shared across threads (sync_owner.hpp) the same code runs under the exchange's lock, and a
// waiter waits with wait_in(); on its own hub the path is the one above, without a lock.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include <grove/cross_thread.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/detail/handoff.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove::detail {

/// First in, first out.
template <class T>
struct fifo_order {
  std::deque<T> items;
  void push(T&& item) { items.push_back(std::move(item)); }
  T pop() {
    T item(std::move(items.front()));
    items.pop_front();
    return item;
  }
  std::size_t size() const noexcept { return items.size(); }
};

/// Last in, first out.
template <class T>
struct lifo_order {
  std::vector<T> items;
  void push(T&& item) { items.push_back(std::move(item)); }
  T pop() {
    T item(std::move(items.back()));
    items.pop_back();
    return item;
  }
  std::size_t size() const noexcept { return items.size(); }
};

/// Greatest first under `Compare`, like std::priority_queue (std::greater: smallest first).
template <class T, class Compare>
struct priority_order {
  std::vector<T> items;
  Compare less{};
  void push(T&& item) {
    items.push_back(std::move(item));
    std::push_heap(items.begin(), items.end(), std::ref(less));
  }
  T pop() {
    std::pop_heap(items.begin(), items.end(), std::ref(less));
    T item(std::move(items.back()));
    items.pop_back();
    return item;
  }
  std::size_t size() const noexcept { return items.size(); }
};

/// The part of an exchange that does not depend on the item type (lib/sync/exchange.cpp).
class exchange_base {
 public:
  /// What an operation came to.
  enum class outcome : std::uint8_t { done, blocked, closed };

  /// `kind` names the waits in grove::dump_fibers (a queue or a channel), and the primitive to
  /// waiters woken by its destruction (see wait_queue).
  explicit exchange_base(std::size_t capacity, wait_kind kind = wait_kind::queue) noexcept
      : takers_(kind), givers_(kind), capacity_(capacity), joiners_(kind) {}
  /// One that fibers of any hub and plain threads may use (see <grove/cross_thread.hpp>).
  exchange_base(std::size_t capacity, cross_thread_t tag,
                wait_kind kind = wait_kind::queue) noexcept
      : owner_(tag), takers_(kind), givers_(kind), capacity_(capacity), joiners_(kind) {}
  // No destructor of its own: ~exchange wakes a shared one's waiters (abandon_waiters).
  exchange_base(const exchange_base&) = delete;
  exchange_base& operator=(const exchange_base&) = delete;

  /// Refuses new items and wakes every waiter with `closed`; false if already closed.
  bool close();
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  /// True if this thread's hub owns the exchange (the single-hub path, no lock).
  bool local() const noexcept { return owner_.local(); }
  /// Who owns it (for a multi_lock: grove::select over shared channels).
  const sync_owner& owner() const noexcept { return owner_; }
  std::size_t capacity() const noexcept { return capacity_; }

  /// Marks one accepted item as processed (queue::task_done); throws if none is outstanding.
  void task_done();
  /// Waits until every accepted item has been marked done; false if `deadline` came first.
  bool join_until(time_point deadline);
  /// Items accepted and not yet marked done.
  std::size_t unfinished() const {
    sync_guard guard(owner_);
    return unfinished_;
  }

  /// Turns a served or woken node into an outcome (pending / retry: blocked).
  static outcome outcome_from(const wait_node& node) noexcept;

 protected:
  /// Suspends with `node` (already queued) until served or `deadline`; throws on kill / timeout.
  /// Returns the node's outcome, or `retry` when the deadline passed first.
  handoff await(wait_node& node, time_point deadline);
  /// Called when an item has been accepted (for task_done / join).
  void accepted() noexcept { ++unfinished_; }
  /// For the derived exchange's destructor, while its buffer still exists: a shared exchange
  /// wakes its waiters (any hub, plain threads; a select included) with grove::error naming
  /// it and returns once they have left, as one hub's queues do. (A waiter woken to go round
  /// before this looks at the buffer under the lock: it must not be mid-destruction.)
  void abandon_waiters() noexcept {
    if (owner_.shared()) [[unlikely]] {
      owner_.abandon_waiters({&takers_, &givers_, &joiners_});
      return;
    }
    while (wait_node* node = retried_.front()) {
      retried_.remove(*node);
      node->status = abandoned_status;
    }
  }
  /// Records `outcome` in a popped waiter's node and wakes it. A local waiter told to retry
  /// (a throwing copy) is woken but will go round again, here: until it runs its node waits in
  /// retried_, so that the exchange's end can tell it (the queues' destructors no longer
  /// reach it). A shared one learns it from the owner's flag (sync_owner::abandon_waiters).
  void hand_off_to(wait_node& node, handoff outcome) noexcept {
    hand_off(node, outcome);
    // After the wake: push_back renews the node's token, which nothing reads any more.
    if (outcome == handoff::retry && !owner_.shared()) retried_.push_back(node);
  }

  sync_owner owner_;
  wait_queue takers_;
  wait_queue givers_;
  std::size_t capacity_;
  std::atomic<bool> closed_{false};

 private:
  std::size_t unfinished_ = 0;
  wait_queue joiners_;
  /// Local waiters told to retry that have not run yet; each node leaves it when its waiter
  /// resumes (the node's destructor), or is marked abandoned_status by the exchange's end.
  wait_queue retried_;
};

/// Buffer + hand-off queues for items of type T, ordered by `Order`.
template <class T, class Order>
class exchange : public exchange_base {
 public:
  using exchange_base::exchange_base;
  ~exchange() { abandon_waiters(); }  // first: a waiter going round may still read buffer_

  /// Gives `item`: to the oldest waiting taker, else into the buffer if it has room, else waits
  /// as a giver until taken, closed or `deadline` (no_wait: never waits).
  outcome give(offer<T> item, time_point deadline) {
    if (!owner_.local()) [[unlikely]]
      return give_shared(item, deadline);
    for (;;) {
      outcome now = try_give_unlocked(item);
      if (now != outcome::blocked || deadline_passed(deadline)) return now;
      wait_node node;
      enqueue_giver(node, item);
      handoff why = await(node, deadline);
      if (why == handoff::done) return outcome::done;
      if (why == handoff::closed) return outcome::closed;
      if (deadline_passed(deadline)) return outcome::blocked;  // retry: go round again
    }
  }

  /// Takes the next item into `out`: from the buffer (refilled from the oldest giver), else
  /// straight from the oldest giver, else waits until one comes, closed or `deadline`.
  outcome take(std::optional<T>& out, time_point deadline) {
    if (!owner_.local()) [[unlikely]]
      return take_shared(out, deadline);
    for (;;) {
      outcome now = try_take_unlocked(out);
      if (now != outcome::blocked || deadline_passed(deadline)) return now;
      wait_node node;
      enqueue_taker(node, out);
      handoff why = await(node, deadline);
      if (why == handoff::done) return outcome::done;
      if (why == handoff::closed) return outcome::closed;
      if (deadline_passed(deadline)) return outcome::blocked;
    }
  }

  /// give() without waiting.
  outcome try_give(offer<T>& item) {
    sync_guard guard(owner_);
    return try_give_unlocked(item);
  }
  /// take() without waiting.
  outcome try_take(std::optional<T>& out) {
    sync_guard guard(owner_);
    return try_take_unlocked(out);
  }

  /// try_give() for a caller that holds the lock already (a multi_lock), or a local exchange.
  outcome try_give_held(offer<T>& item) { return try_give_unlocked(item); }
  /// try_take() for a caller that holds the lock already (a multi_lock), or a local exchange.
  outcome try_take_held(std::optional<T>& out) { return try_take_unlocked(out); }

  /// Queues `node` as a giver of `item` (for select: the caller suspends).
  void enqueue_giver(wait_node& node, offer<T>& item) noexcept {
    node.payload = &item;
    node.status = 0;
    givers_.push_back(node);
  }
  /// Queues `node` as a taker into `out` (for select: the caller suspends).
  void enqueue_taker(wait_node& node, std::optional<T>& out) noexcept {
    node.payload = &out;
    node.status = 0;
    takers_.push_back(node);
  }

  /// For grove::select, with the lock held (or local): false if a give could not proceed now;
  /// true if it may (a waiting taker may be one a kill or another select case took already).
  bool may_give() const noexcept {
    return closed_.load(std::memory_order_relaxed) || !takers_.empty() ||
           buffer_.size() < capacity_;
  }
  /// The same for a take.
  bool may_take() const noexcept {
    return buffer_.size() > 0 || !givers_.empty() || closed_.load(std::memory_order_relaxed);
  }

  /// Items in the buffer.
  std::size_t size() const {
    sync_guard guard(owner_);
    return buffer_.size();
  }

 private:
  // Out of line: its over-aligned remote_wait_node would make every caller realign its frame.
  [[gnu::noinline]] outcome give_shared(offer<T>& item, time_point deadline) {
    sync_guard guard(owner_);
    for (;;) {
      outcome now = try_give_unlocked(item);
      if (now != outcome::blocked || deadline_passed(deadline)) return now;
      remote_wait_node waiter;
      waiter.node.payload = &item;
      waiter.node.status = 0;
      auto why = static_cast<handoff>(wait_in(guard, givers_, waiter, deadline, true, this));
      if (why == handoff::done) return outcome::done;
      if (why == handoff::closed) return outcome::closed;
      if (deadline_passed(deadline)) return outcome::blocked;  // retry: go round again
    }
  }

  [[gnu::noinline]] outcome take_shared(std::optional<T>& out, time_point deadline) {
    sync_guard guard(owner_);
    for (;;) {
      outcome now = try_take_unlocked(out);
      if (now != outcome::blocked || deadline_passed(deadline)) return now;
      remote_wait_node waiter;
      waiter.node.payload = &out;
      waiter.node.status = 0;
      auto why = static_cast<handoff>(wait_in(guard, takers_, waiter, deadline, true, this));
      if (why == handoff::done) return outcome::done;
      if (why == handoff::closed) return outcome::closed;
      if (deadline_passed(deadline)) return outcome::blocked;
    }
  }

  outcome try_give_unlocked(offer<T>& item) {
    if (closed_.load(std::memory_order_relaxed)) return outcome::closed;
    if (wait_node* taker = takers_.pop_waiting()) {
      try {
        static_cast<std::optional<T>*>(taker->payload)->emplace(item.take());
      } catch (...) {
        hand_off_to(*taker, handoff::retry);  // the taker queues again; the giver sees the error
        throw;
      }
      accepted();
      hand_off(*taker, handoff::done);
      return outcome::done;
    }
    if (buffer_.size() < capacity_) {
      buffer_.push(item.take());
      accepted();
      return outcome::done;
    }
    return outcome::blocked;
  }

  outcome try_take_unlocked(std::optional<T>& out) {
    if (buffer_.size() > 0) {
      out.emplace(buffer_.pop());
      refill();
      return outcome::done;
    }
    if (wait_node* giver = givers_.pop_waiting()) {
      try {
        out.emplace(static_cast<offer<T>*>(giver->payload)->take());
      } catch (...) {
        hand_off_to(*giver, handoff::retry);
        throw;
      }
      accepted();
      hand_off(*giver, handoff::done);
      return outcome::done;
    }
    return closed_.load(std::memory_order_relaxed) ? outcome::closed : outcome::blocked;
  }

  /// A taker emptied a buffer slot: move the oldest waiting giver's item in.
  void refill() noexcept {
    if (wait_node* giver = givers_.pop_waiting()) {
      try {
        buffer_.push(static_cast<offer<T>*>(giver->payload)->take());
      } catch (...) {
        // The taker got its item; the giver copies its own item again and sees the error.
        hand_off_to(*giver, handoff::retry);
        return;
      }
      accepted();
      hand_off(*giver, handoff::done);
    }
  }

  Order buffer_;
};

}  // namespace grove::detail
