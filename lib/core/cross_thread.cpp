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
#include <iterator>
#include <memory>
#include <utility>

#include "core/hub_control.hpp"
#include "core/hub_impl.hpp"

namespace grove::detail {

constinit thread_local std::uint32_t t_shared_locks = 0;
// Hubs to interrupt once this thread releases its last shared lock: a few slots; a waker that
// has filled them interrupts at once.
static thread_local std::shared_ptr<hub_control> t_deferred[4];
// Plain threads' futex words to wake then (wake_remote): one slot a waiter an event's set() or
// a semaphore's release(n) may wake in one lock hold; beyond that, a waker wakes at once.
static constinit thread_local std::uint32_t* t_deferred_futexes[32] = {};
static constinit thread_local std::uint32_t t_deferred_futex_count = 0;
constinit thread_local bool t_interrupts_deferred = false;

namespace {

void futex_wake(std::uint32_t* word) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace

void run_deferred_interrupts() noexcept {
  t_interrupts_deferred = false;
  // The plain threads first: they spin on nothing and wait for this system call alone.
  for (std::uint32_t i = 0; i < t_deferred_futex_count; ++i) futex_wake(t_deferred_futexes[i]);
  t_deferred_futex_count = 0;
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

/// Wakes a plain thread blocked on `word` (its remote_waiter's `signalled`, just set), or
/// defers it while this thread holds a shared primitive's lock: the waiter, once awake, takes
/// that lock at once, and every thread spinning on it would wait out the system call.
///
/// Deferred, the wake happens after the lock is released, when the waiter may already have
/// seen `signalled` (it looks before and after each futex wait), taken the lock, left, and
/// reused or freed the stack its remote_waiter lived on. So only the word's address is kept,
/// and nothing is read or written through it: FUTEX_WAKE_PRIVATE names the futex by (process,
/// address) and never touches the memory (the kernel builds a private futex's key from the
/// address alone; even an unmapped address gives only an error, and a thread's stack stays
/// mapped while its thread lives anyway). The worst it can do is wake one thread of this
/// process that waits on a futex now at that address, once: a spurious wake, which every
/// futex user tolerates (grove's futex_wait_until looks at its word again; glibc's mutexes,
/// condition variables and semaphores loop the same way, for this very reason: POSIX lets a
/// thread destroy a mutex as soon as it has locked it, while the unlocker's wake is still on
/// its way).
void futex_wake_soon(std::atomic<std::uint32_t>& word) noexcept {
  auto* address = reinterpret_cast<std::uint32_t*>(&word);
  if (t_shared_locks != 0 && t_deferred_futex_count < std::size(t_deferred_futexes)) {
    t_deferred_futexes[t_deferred_futex_count++] = address;
    t_interrupts_deferred = true;
    return;
  }
  futex_wake(address);
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

void remote_waiter::ran(inbox_item* item, bool run) noexcept {
  // On the waiter's hub. Once item_ran is set the waiter may leave and its frame go: last.
  auto* r = static_cast<remote_waiter*>(item);
  if (run) wake(r->token, wake_reason::notified);  // refused if a kill or timeout came first
  r->item_ran = true;
}

void wake_remote(wait_node& node) noexcept {
  // Called with the primitive's lock held: the waiter cannot leave (and free `r`) until the
  // waker is done with it, and its hub (which waits for it) cannot end.
  remote_waiter* r = node.remote;
  if (!r->fiber) {
    r->signalled.store(1, std::memory_order_release);
    futex_wake_soon(r->signalled);  // `r` may go once the lock is released
    return;
  }
  if (r->home == t_hub) {
    wake(node.token(), wake_reason::notified);
    return;
  }
  if (r->posted) return;  // woken already (a primitive's teardown after a hand-off)
  hub_control& control = *r->control;
  if (r->watched) {
    // The waiter's hub polls the flag (spinning, or between fibers); if it sleeps, interrupt it:
    // the flag, then `sleeping` (seq_cst, the other half of the handshake in hub_impl::loop).
    r->signalled.store(1, std::memory_order_seq_cst);
  } else {
    // The waiter's hub runs `r` when it drains its inbox; if the hub has begun to end, nothing
    // is posted (the waiter, woken by the end's kill, leaves by itself).
    r->posted = control.inbox.push(r);
    if (!r->posted) return;
  }
  if (control.sleeping.load(std::memory_order_seq_cst) &&
      control.sleeping.exchange(false, std::memory_order_seq_cst)) {
    interrupt_soon(r->home->control());  // copied: `r` may go once the lock is released
  }
}

namespace {

/// A fiber waiter left its wait while the wake it was posted is still in its hub's inbox (a kill
/// or timeout came first): waits until the hub has run it, because it lives in this frame.
void wait_for_posted_wake(remote_waiter& r) noexcept {
  while (!r.item_ran) {
    r.token = next_suspension();
    (void)suspend_uninterruptible(no_deadline);
  }
}

/// The one remote suspension of wait_in() and multi_lock::wait(). Called with the primitives'
/// locks held (`unlock` / `lock` release and retake them) and `r` reachable from the queued
/// nodes (its `fiber` and, for a fiber, `token` set): a fiber waits for a waker, `deadline`, a
/// kill or a timeout; a plain thread for `signalled` or `deadline`. Returns why, with the locks
/// held again, `r` no longer watched and no posted wake left in the hub's inbox.
template <class Unlock, class Lock>
wake_reason suspend_remote(remote_waiter& r, hub_impl* h, time_point deadline, waiting_on on,
                           bool interruptible, Unlock unlock, Lock lock) {
  wake_reason why = wake_reason::notified;
  if (!r.fiber) {
    unlock();
    while (r.signalled.load(std::memory_order_acquire) == 0) {
      if (!futex_wait_until(r.signalled, deadline)) {
        why = wake_reason::deadline;
        break;
      }
    }
    lock();
    return why;
  }
  r.home = h;
  r.control = h->control().get();
  r.watched = h->watch(&r);
  h->remote_wait_begin();
  unlock();
  why = interruptible ? suspend_noexcept(deadline, on) : suspend_uninterruptible(deadline, on);
  lock();
  if (r.watched) h->unwatch(&r);
  if (r.posted && !r.item_ran) {
    unlock();
    wait_for_posted_wake(r);
    lock();
  }
  h->remote_wait_end();
  return why;
}

}  // namespace

std::uint8_t wait_in(sync_guard& guard, wait_queue& queue, wait_node& node, remote_waiter& r,
                     time_point deadline, bool interruptible, const void* primitive) {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (h && !self) {
    guard.unlock();
    require_fiber();  // throws: a hub callback may not wait
  }
  const sync_owner& owner = *guard.owner();
  r.fiber = self;
  node.remote = &r;
  // Under the lock, which every writer holds: a plain store, no locked instruction.
  owner.waiting_.store(owner.waiting_.load(std::memory_order_relaxed) + 1,
                       std::memory_order_relaxed);
  queue.push_back(node);
  if (self) r.token = node.token();
  // What grove::dump_fibers shows, as for a wait on one hub's primitive.
  waiting_on on{queue.kind(), reinterpret_cast<std::uintptr_t>(primitive ? primitive : &queue)};
  wake_reason why = suspend_remote(
      r, h, deadline, on, interruptible, [&] { guard.unlock(); }, [&] { guard.lock(); });
  if (node.linked()) queue.remove(node);
  node.remote = nullptr;
  std::uint8_t status = node.status;
  // Still under the lock, which abandon_waiters() takes after seeing 0: once the guard is
  // released below, this waiter no longer touches the primitive.
  owner.waiting_.store(owner.waiting_.load(std::memory_order_relaxed) - 1,
                       std::memory_order_release);
  // A waiter handed nothing for good (a hand-off whose copy threw says retry) would go round
  // again under this lock and queue anew in a primitive being destroyed, which abandoned the
  // waiters it had before and then frees its memory: it leaves by throwing instead, as if it
  // had still been queued.
  if (status == abandoned_status ||
      (owner.abandoned_ && (status == 0 || status == static_cast<std::uint8_t>(handoff::retry)))) {
    const char* what = queue.owner();  // a static string: read before the unlock all the same
    guard.unlock();
    throw_destroyed_while_waiting(what);
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
  // Every waiter learns it from the flag when it resumes, even one out of the queues: popped
  // for a hand-off that failed (retry), or a multi-wait whose claim another case took
  // (pop_waiting skips it): none may go round again to a primitive that is going.
  abandoned_ = true;
  abandoned_kind_ = (*queues.begin())->kind();
  // pop_waiting() returns a shared waiter's node even if a kill or timeout woke it already:
  // each one is told, and each leaves through wait_in(), which counts it out. A multi-wait's
  // node another case already claimed is skipped: that waiter leaves through multi_lock::wait().
  for (wait_queue* queue : queues) {
    while (wait_node* node = queue->pop_waiting()) {
      node->status = abandoned_status;
      if (node->remote->fiber && node->remote->home == t_hub) same_hub_waiter = true;
      wake_remote(*node);
    }
  }
  lock_.unlock();
  // Its waiters must run to leave, and it waits for them below: wake them now even if this
  // thread still holds another shared lock (a system call under it beats waiting under it).
  --t_shared_locks;
  if (t_interrupts_deferred) run_deferred_interrupts();
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
  // Every armed node wakes this one suspension through `r` (a waker on this hub by token, one
  // on another hub through the watched flag or the inbox, a plain thread through the futex); the
  // claim lets only the first.
  bool any_linked = false;
  for (std::size_t i = 0; i < count; ++i) {
    if (!nodes[i].linked()) continue;
    nodes[i].remote = &r;
    nodes[i].claim = &claim;
    if (!any_linked) r.token = nodes[i].token();  // every node names the same suspension
    any_linked = true;
  }
  const sync_owner** all = owners();
  for (std::size_t i = 0; i < count_; ++i) {
    // Under the lock, which every writer holds: a plain store, no locked instruction.
    all[i]->waiting_.store(all[i]->waiting_.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
  }
  if (self && !any_linked) r.token = next_suspension();  // only the deadline can end it
  wake_reason why = suspend_remote(
      r, h, deadline, on, true, [this] { unlock(); }, [this] { lock(); });
  // Under every lock again: no waker can reach a node once it is unlinked here.
  for (std::size_t i = 0; i < count; ++i) {
    nodes[i].unlink();
    nodes[i].remote = nullptr;
    nodes[i].claim = nullptr;
  }
  // Still under the locks, which abandon_waiters() takes after seeing 0: once they are
  // released, this waiter no longer touches a primitive being destroyed.
  for (std::size_t i = 0; i < count_; ++i) {
    all[i]->waiting_.store(all[i]->waiting_.load(std::memory_order_relaxed) - 1,
                           std::memory_order_release);
  }
  // One of the primitives is being destroyed: say so, unless another case was served for
  // good (then the caller takes it and touches nothing more). Otherwise the caller would look
  // again (wait_any) or go round (select), after these locks are released: at freed memory.
  bool served = false;
  for (std::size_t i = 0; served_is_final && i < count; ++i) {
    std::uint8_t status = nodes[i].status;
    served |= status != 0 && status != abandoned_status &&
              status != static_cast<std::uint8_t>(handoff::retry);
  }
  const sync_owner* gone = nullptr;
  for (std::size_t i = 0; i < count_ && !gone; ++i) {
    if (all[i]->abandoned_) gone = all[i];
  }
  if (gone && !served) {
    const char* what = primitive_name(gone->abandoned_kind_);
    unlock();
    throw_destroyed_while_waiting(what);
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
