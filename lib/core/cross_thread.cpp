// Wake-ups across threads (docs/architecture.md, "Threads"): the lock of a shared primitive,
// how its waiters wait (a fiber on its own hub, or a plain thread on a futex) and how a waker
// on any thread wakes them. The single-hub path never comes here.
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <grove/detail/handoff.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/error.hpp>
#include <grove/hub_ref.hpp>
#include <memory>
#include <string>
#include <utility>

#include "core/hub_control.hpp"
#include "core/hub_impl.hpp"

namespace grove::detail {

namespace {
struct wake_item;
}

/// How to wake one waiter of a shared primitive; on the waiter's stack while it waits.
struct remote_waiter {
  fiber_base* fiber = nullptr;       ///< null: a plain thread, woken through `signalled`
  std::shared_ptr<hub_control> hub;  ///< the fiber's hub
  std::atomic<std::uint32_t> signalled{0};
  bool posted = false;  ///< a wake was posted to the hub (it releases the fiber's reference)
  const char* abandoned_by = nullptr;  ///< set by abandon_waiters(): the primitive's name
  /// What a waker on another hub posts, taken by the waiter before it queues (a waker may not
  /// allocate: it runs under the primitive's lock, in noexcept code). At most one wake is ever
  /// posted per wait: the node is popped once, and a multi-wait's nodes share one claim.
  wake_item* item = nullptr;
};

constinit thread_local std::uint32_t t_shared_locks = 0;
// Hubs to interrupt once this thread releases its last shared lock: a few slots; a waker that
// has filled them interrupts at once.
static thread_local std::shared_ptr<hub_control> t_deferred[4];
constinit thread_local bool t_interrupts_deferred = false;

void run_deferred_interrupts() noexcept {
  t_interrupts_deferred = false;
  for (auto& slot : t_deferred) {
    if (!slot) break;
    std::shared_ptr<hub_control> control = std::move(slot);
    interrupt_hub(*control);
  }
}

void spin_lock::lock_slow() noexcept {
  for (int spins = 0;; ++spins) {
    if (!locked_.load(std::memory_order_relaxed) &&
        !locked_.exchange(true, std::memory_order_acquire)) {
      return;
    }
    // The holder may have been preempted (2 cores, many threads): after a short spin, let the
    // kernel run it.
    if (spins < 64) {
      __builtin_ia32_pause();
    } else {
      sched_yield();
    }
  }
}

void sync_owner::lock_shared() const {
  if (!shared()) {
    throw error(
        "grove: this primitive belongs to the hub of another thread; construct it with "
        "grove::cross_thread (or outside any hub) to share it across threads");
  }
  lock_.lock();
}

namespace {

/// Runs on the waiter's hub: wakes the suspension the token names (a stale token is refused)
/// and drops the reference the waiter left for it. Destroyed unrun (the reference dropped) on
/// the hub's thread if the hub ends first.
struct wake_item final : inbox_item {
  wake_token token;
  wake_item() noexcept { invoke = &call; }
  static void call(inbox_item* item, bool run) noexcept;
};

/// One wake_item per thread kept for its next shared wait. A posted item comes back to the
/// waiter's own thread (its hub runs it), so a cross-hub ping-pong allocates nothing.
struct spare_wake_item {
  wake_item* item = nullptr;
  ~spare_wake_item() { delete item; }
};
thread_local spare_wake_item t_spare_item;

/// A wake_item for a wait about to queue (throws std::bad_alloc before anything is queued).
wake_item* take_wake_item() {
  if (wake_item* item = std::exchange(t_spare_item.item, nullptr)) return item;
  return new wake_item;
}

/// Keeps `item` for this thread's next wait, or frees it.
void recycle(wake_item* item) noexcept {
  if (t_spare_item.item) {
    delete item;
  } else {
    t_spare_item.item = item;
  }
}

void wake_item::call(inbox_item* item, bool run) noexcept {
  auto* self = static_cast<wake_item*>(item);
  if (run) wake(self->token, wake_reason::notified);
  release(self->token.fiber);
  recycle(self);  // on the waiter's hub thread
}

/// Interrupts `control`'s hub, or defers it while this thread holds a shared primitive's lock.
void interrupt_soon(const std::shared_ptr<hub_control>& control) noexcept {
  if (t_shared_locks != 0) {
    for (auto& slot : t_deferred) {
      if (!slot) {
        slot = control;
        t_interrupts_deferred = true;
        return;
      }
    }
  }
  interrupt_hub(*control);
}

void futex_wake(std::atomic<std::uint32_t>& word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

/// Blocks while `word` is 0, until `deadline`; false once the deadline has passed.
bool futex_wait_until(std::atomic<std::uint32_t>& word, time_point deadline) noexcept {
  timespec relative{};
  timespec* timeout = nullptr;
  if (deadline != no_deadline) {
    auto left = deadline - clock::now();
    if (left <= clock::duration::zero()) return false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    relative.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    relative.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    timeout = &relative;
  }
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, 0, timeout,
          nullptr, 0);
  return true;
}

}  // namespace

void wake_remote(wait_node& node) noexcept {
  // Called with the primitive's lock held: the waiter cannot leave (and free `r`) until the
  // waker is done with it.
  remote_waiter* r = node.remote;
  if (!r->fiber) {
    r->signalled.store(1, std::memory_order_release);
    futex_wake(r->signalled);
    return;
  }
  if (r->fiber->hub == t_hub) {
    wake(node.token(), wake_reason::notified);
    return;
  }
  // The waiter's hub wakes it by token when it gets there (hub_control.hpp: an inbox push, and
  // a system call only if that hub sleeps); the waiter has taken a reference for this post,
  // which the item drops. If the hub has begun to end, nothing is posted and the waiter drops
  // the reference itself, on its own thread.
  wake_item* item = r->item;
  item->token = node.token();
  r->posted = r->hub->inbox.push(item);
  if (!r->posted) return;  // the waiter keeps its item
  hub_control& control = *r->hub;
  if (control.sleeping.load(std::memory_order_seq_cst) &&
      control.sleeping.exchange(false, std::memory_order_seq_cst)) {
    interrupt_soon(r->hub);  // the shared_ptr is copied: `r` may go once the lock is released
  }
}

std::uint8_t wait_in(sync_guard& guard, wait_queue& queue, wait_node& node, time_point deadline,
                     bool interruptible, const void* primitive) {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (h && !self) {
    guard.unlock();
    require_fiber();  // throws: a hub callback may not wait
  }
  const sync_owner& owner = *guard.owner();
  remote_waiter r;
  r.fiber = self;
  if (self) {
    r.item = take_wake_item();  // may throw: nothing is queued yet
    r.hub = h->control();
  }
  node.remote = &r;
  owner.waiting_.fetch_add(1, std::memory_order_relaxed);
  queue.push_back(node);
  wake_reason why = wake_reason::notified;
  if (self) {
    retain(self);  // for a wake posted to this hub (see wake_item)
    h->remote_wait_begin();
    guard.unlock();
    // What grove::dump_fibers shows, as for a wait on one hub's primitive.
    waiting_on on{queue.kind(), reinterpret_cast<std::uintptr_t>(primitive ? primitive : &queue)};
    why = interruptible ? suspend_noexcept(deadline, on) : suspend_uninterruptible(deadline, on);
    guard.lock();
  } else {
    guard.unlock();
    while (r.signalled.load(std::memory_order_acquire) == 0) {
      if (!futex_wait_until(r.signalled, deadline)) {
        why = wake_reason::deadline;
        break;
      }
    }
    guard.lock();
  }
  if (node.linked()) queue.remove(node);
  node.remote = nullptr;
  std::uint8_t status = node.status;
  if (self) {
    h->remote_wait_end();
    if (!r.posted) {
      release(self);  // still referenced by its hub: it is running
      recycle(r.item);
    }
  }
  // Still under the lock, which abandon_waiters() takes after seeing 0: once the guard is
  // released below, this waiter no longer touches the primitive.
  owner.waiting_.fetch_sub(1, std::memory_order_release);
  if (status == abandoned_status) {
    std::string what = queue.owner();
    guard.unlock();
    throw error(what +
                " destroyed while a fiber waited on it (destroy a primitive only once nothing "
                "waits on it)");
  }
  if (status == 0 && why >= wake_reason::killed) {
    guard.unlock();
    raise_for(why);
  }
  return status;
}

void sync_owner::abandon_waiters(std::initializer_list<wait_queue*> queues) const noexcept {
  bool same_hub_waiter = false;
  lock_.lock();
  // Counted as a held shared lock: the wakes below defer the system call that interrupts a
  // sleeping hub until the lock is released (see t_shared_locks).
  ++t_shared_locks;
  // pop_waiting() returns a shared waiter's node even if a kill or timeout woke it already:
  // each one is told, and each leaves through wait_in(), which counts it out. A multi-wait's
  // node another case already claimed is skipped: that waiter leaves through multi_lock::wait().
  for (wait_queue* queue : queues) {
    // Every waiter learns it, even one whose claim another case took (pop_waiting skips it):
    // a multi-wait must not go round again to a primitive that is gone.
    for (wait_node* node = queue->front(); node; node = node->next) {
      if (node->remote) node->remote->abandoned_by = queue->owner();
    }
    while (wait_node* node = queue->pop_waiting()) {
      node->status = abandoned_status;
      if (node->remote->fiber && node->remote->fiber->hub == t_hub) same_hub_waiter = true;
      wake_remote(*node);
    }
  }
  lock_.unlock();
  if (--t_shared_locks == 0 && t_interrupts_deferred) run_deferred_interrupts();
  // In a hub callback, a waiter of this hub that was served but has not run yet cannot leave
  // either (it was not in the queue): after 5 s without the count reaching 0, say so.
  const auto give_up = clock::now() + std::chrono::seconds(5);
  for (int round = 0; waiting_.load(std::memory_order_acquire) != 0; ++round) {
    if (current_fiber()) {
      // This hub's waiters (woken above, or by their own kill or timeout) run meanwhile.
      (void)suspend_uninterruptible(clock::now() + std::chrono::milliseconds(1));
    } else if (same_hub_waiter || (t_hub && clock::now() > give_up)) {
      std::fputs(
          "grove: a primitive shared across threads was destroyed in a hub callback while a "
          "fiber of that hub waited on it; destroy it from a fiber, or once nothing waits\n",
          stderr);
      std::abort();
    } else if (round < 64) {
      sched_yield();
    } else {
      ::usleep(100);  // a waiter of another thread that waits for a CPU
    }
  }
  lock_.lock();  // the last waiter has released it
  lock_.unlock();
}

// multi_lock ---------------------------------------------------------------------------------

void multi_lock::add(const sync_owner& owner) {
  if (owner.local()) return;
  if (!owner.shared()) owner.lock_shared();  // throws: it belongs to another hub
  if (count_ == std::size(few_) && more_.empty()) more_.assign(few_, few_ + count_);
  if (!more_.empty()) {
    more_.push_back(&owner);
  } else {
    few_[count_] = &owner;
  }
  ++count_;
  sorted_ = false;
}

void multi_lock::lock() noexcept {
  if (count_ == 0 || locked_) return;
  const sync_owner** all = owners();
  if (!sorted_) {
    std::sort(all, all + count_, std::less<const sync_owner*>());
    count_ = static_cast<std::size_t>(std::unique(all, all + count_) - all);
    if (!more_.empty()) more_.resize(count_);
    sorted_ = true;
  }
  for (std::size_t i = 0; i < count_; ++i) all[i]->lock_.lock();
  ++t_shared_locks;
  locked_ = true;
}

void multi_lock::unlock() noexcept {
  if (!locked_) return;
  const sync_owner** all = owners();
  for (std::size_t i = count_; i-- > 0;) all[i]->lock_.unlock();
  locked_ = false;
  if (--t_shared_locks == 0 && t_interrupts_deferred) run_deferred_interrupts();
}

wake_reason multi_lock::wait(wait_node* nodes, std::size_t count, time_point deadline,
                             waiting_on on, bool served_is_final) {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (h && !self) {
    for (std::size_t i = 0; i < count; ++i) nodes[i].unlink();  // under the locks
    unlock();
    require_fiber();  // throws: a hub callback may not wait
  }
  std::atomic<std::uint32_t> claim{0};
  remote_waiter r;
  r.fiber = self;
  if (self) {
    try {
      r.item = take_wake_item();
    } catch (...) {
      for (std::size_t i = 0; i < count; ++i) nodes[i].unlink();  // under the locks
      unlock();
      throw;
    }
    r.hub = h->control();
  }
  // Every armed node wakes this one suspension through `r` (a waker on this hub by token, one
  // on another hub by a post, a plain thread through the futex); the claim lets only the first.
  for (std::size_t i = 0; i < count; ++i) {
    if (!nodes[i].linked()) continue;
    nodes[i].remote = &r;
    nodes[i].claim = &claim;
  }
  const sync_owner** all = owners();
  for (std::size_t i = 0; i < count_; ++i) all[i]->waiting_.fetch_add(1, std::memory_order_relaxed);
  wake_reason why = wake_reason::notified;
  if (self) {
    retain(self);  // for a wake posted to this hub (see wake_item)
    h->remote_wait_begin();
    unlock();
    why = suspend_noexcept(deadline, on);
    lock();
  } else {
    unlock();
    while (r.signalled.load(std::memory_order_acquire) == 0) {
      if (!futex_wait_until(r.signalled, deadline)) {
        why = wake_reason::deadline;
        break;
      }
    }
    lock();
  }
  // Under every lock again: no waker can reach a node once it is unlinked here.
  for (std::size_t i = 0; i < count; ++i) {
    nodes[i].unlink();
    nodes[i].remote = nullptr;
    nodes[i].claim = nullptr;
  }
  if (self) {
    h->remote_wait_end();
    if (!r.posted) {
      release(self);  // still referenced by its hub: it is running
      recycle(r.item);
    }
  }
  // Still under the locks, which abandon_waiters() takes after seeing 0: once they are
  // released, this waiter no longer touches a primitive being destroyed.
  for (std::size_t i = 0; i < count_; ++i) all[i]->waiting_.fetch_sub(1, std::memory_order_release);
  // One of the primitives is being destroyed: say so, unless another case was served for
  // good (then the caller takes it and touches nothing more).
  bool served = false;
  for (std::size_t i = 0; served_is_final && i < count; ++i) {
    std::uint8_t status = nodes[i].status;
    served |= status != 0 && status != abandoned_status &&
              status != static_cast<std::uint8_t>(handoff::retry);
  }
  if (r.abandoned_by && !served) {
    std::string what = r.abandoned_by;
    unlock();
    throw error(what +
                " destroyed while a fiber waited on it (destroy a primitive only once nothing "
                "waits on it)");
  }
  return why;
}

// hub_ref ------------------------------------------------------------------------------------

namespace {

/// A task posted through a hub_ref: runs as a hub callback; destroyed unrun (on the hub's
/// thread) if the hub ends first.
struct posted_task {
  std::unique_ptr<remote_task> task;
  void operator()() noexcept {
    try {
      task->run();
    } catch (...) {
      report_callback_exception();
    }
    task.reset();
  }
};

}  // namespace

bool post_task(hub_control* control, std::unique_ptr<remote_task> task) {
  // A task that slips in just as the hub begins to end still runs during its shutdown, or is
  // destroyed unrun: the same as one posted a moment earlier.
  if (!control || control->refusing_tasks.load(std::memory_order_relaxed)) return false;
  return post_to(*control, posted_task{std::move(task)});
}

bool hub_alive(hub_control* control) noexcept {
  // `hub` is cleared only after the hub refuses tasks (close_control), so the flag says it all.
  return control && !control->refusing_tasks.load(std::memory_order_relaxed);
}

bool hub_ending() noexcept { return !t_hub || t_hub->ending(); }

}  // namespace grove::detail

namespace grove {

hub_ref hub::ref() const { return hub_ref(impl_->control()); }

}  // namespace grove
