// The hub: one per thread, made by grove::run. This file has its construction and the loop
// that runs ready fibers and callbacks and waits on Asio; the rest of hub_impl lives in a file
// a job (see hub_impl.hpp).
#include "core/hub_impl.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>

#include <cerrno>
#include <cstdlib>

#include <cxxabi.h>

#include <chrono>

#include <grove/error.hpp>

#include "core/hub_control.hpp"
#include "core/overflow_guard.hpp"

namespace grove::detail {

constinit thread_local hub_impl* t_hub = nullptr;

void callback_timer_fired(timer_node* t) noexcept;

hub_impl::hub_impl()
    : control_(std::make_shared<hub_control>()),
      io_(1),
      asio_thread_(io_),
      asio_timer_(io_),
      facade_(this) {
  control_->hub = this;
  // The inline yield reads t_hub as a hub_core* (hub_core.hpp): it must be at offset 0.
  if (static_cast<void*>(static_cast<hub_core*>(this)) != static_cast<void*>(this)) std::abort();
  eh_globals_ = abi::__cxa_get_globals();
  errno_ = &errno;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &low, &size);
    loop_stack_low_ = low;
    loop_stack_size_ = size;
    pthread_attr_destroy(&attr);
  }
  const char* paint = std::getenv("GROVE_STACK_PAINT");
  paint_stacks_ = paint && *paint && *paint != '0';
}

hub_impl::~hub_impl() {
  close_control();
  // Work other threads posted before the inbox closed and the loop never ran: destroyed unrun,
  // here on the hub's thread (a wake drops the fiber reference it held).
  while (inbox_item* item = closed_items_) {
    closed_items_ = item->next;
    item->invoke(item, false);
  }
  // Callbacks still queued or armed will never run; their handles stay valid but inert.
  while (callback_node* n = soon_head_) {
    soon_head_ = n->next;
    n->hub = nullptr;
    n->cancelled = true;
    release(n);
  }
  timers_.clear([](timer_node* t) {
    if (t->fire == &callback_timer_fired) {
      auto* node = static_cast<callback_node*>(t);
      node->hub = nullptr;
      node->cancelled = true;
      release(node);
    }
  });
}

void hub_impl::close_control() noexcept {
  // The loop has returned (or never ran): from now on every push fails; what other threads
  // posted before and the hub never ran is destroyed unrun by ~hub_impl, on this thread.
  control_->refusing_tasks.store(true, std::memory_order_relaxed);
  {
    std::lock_guard lock(control_->mutex);
    control_->hub = nullptr;
  }
  // What was accepted before still runs (loop) or is destroyed unrun (~hub_impl).
  if (inbox_item* rest = control_->inbox.close()) {
    inbox_item** tail = &closed_items_;
    while (*tail) tail = &(*tail)->next;
    *tail = rest;
  }
}

void interrupt_hub(hub_control& control) noexcept {
  // The hub sleeps in io_context::run_one (or is about to): a handler queued there ends it (the
  // scheduler interrupts its reactor), and the loop then drains the inbox. Under the mutex:
  // the io_context lives as long as `hub` is set. The handler is the hub's one preallocated
  // operation: if it is queued already, the hub's next run_one returns through it anyway.
  // Nothing here can fail: no allocation, and a default std::mutex's lock does not throw
  // (pthread_mutex_lock reports only misuse of error-checking or recursive mutexes).
  std::lock_guard lock(control.mutex);
  if (control.hub && !control.interrupt.queued.exchange(true, std::memory_order_acq_rel)) {
    boost::asio::use_service<boost::asio::detail::io_context_impl>(control.hub->io())
        .post_immediate_completion(&control.interrupt, false);
  }
}

void hub_impl::run_inbox() noexcept {
  inbox_item* items = std::exchange(closed_items_, nullptr);
  if (!items) items = control_->inbox.take_all();
  while (items) {
    inbox_item* next = items->next;
    items->invoke(items, true);
    items = next;
  }
}

bool hub_impl::spin_for_inbox() noexcept {
  // A thread wake-up costs ~20-25 us on these VMs (a futex or eventfd ping-pong between two
  // pinned threads, bench/RESULTS.md), so a peer that answers within that time is better waited
  // for awake: spin up to about one wake-up's cost. Only while fibers wait on other threads, and
  // only while it pays: after `spin_failures_allowed` empty spins in a row, skip spinning for
  // 2, 4, ... 256 sleeps; a spin that finds work resets that.
  constexpr std::uint32_t spin_failures_allowed = 4, max_backoff = 8;
  if (spin_skip_ != 0) {
    --spin_skip_;
    return false;
  }
  const auto until = clock::now() + spin_limit;
  do {
    // A clock read costs about as much as a cache line's trip between CPUs: a few per spin.
    for (int i = 0; i < 128; ++i) {
      if (control_->inbox.has_items() ||
          (watched_count_ != 0 && watched_signalled(std::memory_order_relaxed))) {
        spin_failures_ = 0;
        spin_backoff_ = 0;
        return true;
      }
      __builtin_ia32_pause();
    }
  } while (clock::now() < until);
  if (++spin_failures_ >= spin_failures_allowed) {
    spin_failures_ = 0;
    if (spin_backoff_ < max_backoff) ++spin_backoff_;
    spin_skip_ = std::uint32_t{1} << spin_backoff_;
  }
  return false;
}

bool hub_impl::watch(remote_waiter* r) noexcept {
  if (watched_count_ == watch_slots) return false;
  watched_[watched_count_++] = r;
  return true;
}

void hub_impl::unwatch(remote_waiter* r) noexcept {
  for (std::uint32_t i = 0; i < watched_count_; ++i) {
    if (watched_[i] == r) {
      watched_[i] = watched_[--watched_count_];
      return;
    }
  }
}

bool hub_impl::watched_signalled(std::memory_order order) const noexcept {
  for (std::uint32_t i = 0; i < watched_count_; ++i) {
    if (watched_[i]->signalled.load(order) != 0) return true;
  }
  return false;
}

void hub_impl::run_watched() noexcept {
  for (std::uint32_t i = 0; i < watched_count_;) {
    remote_waiter* r = watched_[i];
    if (r->signalled.load(std::memory_order_acquire) != 0) {
      watched_[i] = watched_[--watched_count_];
      wake(r->token, wake_reason::notified);  // refused if a kill or timeout came first
    } else {
      ++i;
    }
  }
}

void hub_impl::remote_wait_begin() noexcept {
  // Outstanding work of the io_context, so that the hub blocks for the other thread instead of
  // reporting a deadlock. Taken once and given back by the loop once no remote wait is left,
  // not at the end of every wait: a cross-thread ping-pong would pay two atomic operations a
  // message on the io_context's counter.
  ++remote_waits_;
  if (!remote_work_held_) {
    remote_work_held_ = true;
    io_.get_executor().on_work_started();
  }
}

void hub_impl::remote_wait_end() noexcept { --remote_waits_; }

void hub_impl::run(fiber_base* main) {
  if (t_hub) {
    throw error(
        "grove::run: a hub is already running on this thread (grove::run cannot be nested; "
        "spawn a fiber instead)");
  }
  t_hub = this;
  struct reset_current_hub {
    ~reset_current_hub() { t_hub = nullptr; }
  } reset;
  overflow_guard guard;  // sigaltstack for this thread + the process-wide SIGSEGV handler
  watch_.hub = this;
  watch_.switches = &switches_;
  watch_.budget = &budget_;
  watch_.thread = pthread_self();
  watch_.tid = ::gettid();
  register_hub(watch_);
  struct leave_registry {
    hub_watch& w;
    ~leave_registry() { unregister_hub(w); }
  } registered{watch_};
  main_ = main;
#ifdef GROVE_TSAN
  loop_ctx_.tsan_fiber = sanitizer_current_fiber();  // the loop runs as the thread itself
#endif
  spawn_options options;
  options.name = main->name();
  launch(main, options, no_deadline);
  loop();
}

void run_hub(fiber_base* main) {
  if (t_hub) {
    throw error(
        "grove::run: a hub is already running on this thread (grove::run cannot be nested; "
        "spawn a fiber instead)");
  }
  hub_impl hub;
  hub.run(main);
}

void hub_impl::loop() {
  for (;;) {
    // Progress for the blocking monitor, like a switch: a hub busy with callbacks and Asio
    // handlers alone is not stuck, one stuck inside a callback is.
    count_switch();
    if (closed_items_ || control_->inbox.has_items()) run_inbox();
    if (watched_count_ != 0) run_watched();
    // Due timers fire here, on a clock read (vDSO), not through Asio: its timer (a
    // timerfd_settime and a handler each time) is armed only before the hub sleeps.
    fire_due_timers();
    // Every admitted start has left the ready queue (prepare_to_start), so any count left over
    // is stale: queued starts never wait for a ready queue that is empty.
    if (!ready_head_ && start_head_) {
      admitted_ = 0;
      admit_starts();
    }
    if (ready_head_) {
      budget_.store(switch_budget, std::memory_order_relaxed);
      if (fiber_base* f = pop_runnable()) {
        f->state = fiber_state::running;
        switch_to(loop_ctx_, f->ctx);
      }
    }
    if (soon_head_) run_callbacks();
    if (!shutting_down_ && main_->state == fiber_state::finished) {
      shutting_down_ = true;
      // New tasks are refused from now on; wakes are still taken, so that a fiber killed in a
      // wait a kill cannot end (shielded, relocking a shared mutex) still gets its wake.
      control_->refusing_tasks.store(true, std::memory_order_relaxed);
      kill_all_live();
    }
    if (remote_work_held_ && remote_waits_ == 0) {
      remote_work_held_ = false;
      io_.get_executor().on_work_finished();  // may stop the io_context: restarted below
    }
    if (shutting_down_ && live_count_ == 0) break;
    // The io_context also stops when its outstanding work drops to zero outside run(), e.g. a
    // fiber releasing an executor_work_guard; a stopped run_one() would return 0 at once and
    // look like a deadlock. So restart before polling, not after.
    if (io_.stopped()) io_.restart();
    if (ready_head_ || start_head_ || soon_head_ || closed_items_) {
      // A hub that is never idle still gives idle stacks' memory back, at a bounded pace.
      if (stacks_.has_surplus()) stacks_.trim_paced(clock::now());
      io_.poll();
      continue;
    }
    // Idle (nothing ready, and Asio has nothing ready either: an expired timer is work): the
    // moment to give the memory of surplus idle stacks back, a bounded batch at a time.
    if (stacks_.has_surplus()) {
      if (io_.poll() == 0 && !ready_head_ && !soon_head_) stacks_.trim();
      continue;
    }
    // Fibers wait on other threads: their wake may be a moment away. A hub that keeps finding
    // its wakes by spinning never blocks in Asio, so it polls Asio every so often for I/O and
    // timers (a poll is a system call: not every message).
    if (remote_waits_ != 0 && spin_for_inbox()) {
      if (++spins_since_poll_ >= spins_per_poll) {
        spins_since_poll_ = 0;
        io_.poll();
      }
      continue;
    }
    spins_since_poll_ = 0;
    // About to sleep: announce it, then look at the inbox once more (Dekker, hub_control.hpp):
    // a poster that pushed before the announcement is seen here, one that pushes after it sees
    // the announcement and interrupts the reactor.
    control_->sleeping.store(true, std::memory_order_seq_cst);
    if (control_->inbox.has_items_seq_cst() ||
        (watched_count_ != 0 && watched_signalled(std::memory_order_seq_cst))) {
      control_->sleeping.store(false, std::memory_order_relaxed);
      continue;
    }
    // Waiting here with nothing to run is not a stall: the blocking monitor skips idle hubs.
    watch_.idle.store(true, std::memory_order_relaxed);
    arm_asio_timer_for_sleep();
    std::size_t handled = io_.run_one();
    watch_.idle.store(false, std::memory_order_relaxed);
    control_->sleeping.store(false, std::memory_order_relaxed);
    if (handled == 0 && !ready_head_ && !soon_head_ && !control_->inbox.has_items() &&
        !(watched_count_ != 0 && watched_signalled(std::memory_order_acquire))) {
      on_deadlock();
      if (shutting_down_ && live_count_ == 0) break;
    }
  }
}

void hub_impl::on_deadlock() {
  if (!shutting_down_ && interrupt(main_, wake_reason::deadlock)) return;
  // Shutting down, and the remaining fibers wait for something that can never happen. Their
  // frames cannot be unwound. Say so rather than hang, and leak them: their stacks and blocks
  // may still be linked from wait queues and timers elsewhere, so nothing of theirs is freed
  // and nobody is woken.
  report_abandoned(live_count_);
  // Another thread may still complete something one of them waits for (a use_fiber operation)
  // and post it here once the hub has gone: the control stays, and refuses it.
  control_->kept_for_abandoned = control_;
  sanitizer_abandon(control_.get(), nullptr, 0);  // a cycle, deliberately: not a leak to report
  while (fiber_base* f = live_head_) {
    report_abandoned_fiber(f);
    if (f->deadline().armed()) disarm(f->deadline());
    f->state = fiber_state::finished;
    f->killed = true;
    live_head_ = f->next_live;
    if (live_head_) live_head_->prev_live = nullptr;
    f->prev_live = f->next_live = nullptr;
    --live_count_;
    // The hub's reference and the stack mapping are deliberately leaked.
    char* usable = f->stack_base ? static_cast<char*>(f->stack_base) + stack_pool::guard_bytes
                                 : nullptr;
    sanitizer_abandon(f, usable, f->stack_size);
  }
}

void hub_impl::kill_all_live() noexcept {
  // kill() only schedules (no fiber runs or finishes here), so the live list stays intact.
  for (fiber_base* f = live_head_; f; f = f->next_live) kill(f);
}

}  // namespace grove::detail

namespace grove {

hub& hub::current() {
  auto* h = detail::current_hub();
  if (!h) throw error("grove::hub::current: no hub is running on this thread (use grove::run)");
  return h->facade();
}

bool hub::running() noexcept { return detail::current_hub() != nullptr; }

callback_handle hub::call_soon(std::function<void()> fn) { return impl_->call_soon(std::move(fn)); }

callback_handle hub::call_after(detail::clock::duration delay, std::function<void()> fn) {
  return impl_->call_later(delay, std::move(fn));
}

boost::asio::io_context& hub::io_context() noexcept { return impl_->io(); }

std::size_t hub::fiber_count() const noexcept { return impl_->live_count(); }

}  // namespace grove
