#include "core/hub_impl.hpp"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cxxabi.h>
#include <string>
#include <typeinfo>
#include <vector>

#include <grove/error.hpp>
#include <grove/timeout.hpp>
#include <grove/detail/yield.hpp>

#include "core/overflow_guard.hpp"
#include "core/sanitizers.hpp"

namespace ctx = boost::context::detail;

namespace grove::detail {

constinit thread_local hub_impl* t_hub = nullptr;

void callback_timer_fired(timer_node* t) noexcept;

namespace {

std::atomic<std::uint64_t> g_next_fiber_id{0};

void deadline_fired(timer_node* node) noexcept {
  auto* owner = static_cast<fiber_base::deadline_timer*>(node)->owner;
  if (owner->state == fiber_state::created) {  // spawn_later: time to start
    owner->state = fiber_state::ready;
    owner->hub->push_ready(owner);
  } else {
    interrupt(owner, wake_reason::deadline);  // armed only for the suspension it ends
  }
}

const char* outside_fiber_message =
    "grove: this call waits, and can only be made from a fiber (not from a hub callback, nor "
    "outside grove::run)";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Free functions of the detail API

fiber_base* current_fiber() noexcept { return t_hub ? t_hub->running() : nullptr; }
hub_impl* current_hub() noexcept { return t_hub; }

bool is_suspended(const fiber_base* f) noexcept { return f && f->state == fiber_state::suspended; }

bool interrupt(fiber_base* f, wake_reason reason) noexcept {
  if (!f || f->state != fiber_state::suspended) return false;
  f->state = fiber_state::ready;
  f->reason = reason;
  f->hub->push_ready(f);
  return true;
}

wake_token next_suspension() noexcept {
  fiber_base* self = current_fiber();
  return self ? wake_token{self, self->suspension} : wake_token{};
}

bool is_waiting(wake_token token) noexcept {
  return is_suspended(token.fiber) && token.fiber->suspension == token.suspension;
}

bool wake(wake_token token, wake_reason reason) noexcept {
  return is_waiting(token) && interrupt(token.fiber, reason);
}

namespace {
timeout_error make_timeout_error(fiber_base* self) {
  scoped_timeout* outermost = nullptr;
  for (scoped_timeout* t = self->timeouts; t; t = t->outer) {
    if (t->expired) outermost = t;
  }
  if (!outermost) return timeout_error("grove: timeout expired", 0);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(outermost->duration).count();
  std::string text = "grove: timeout of ";
  if (us % 1000 == 0) {
    text += std::to_string(us / 1000) + " ms";
  } else {
    text += std::to_string(us) + " us";
  }
  text += " expired";
  return timeout_error(text, outermost->serial);
}

/// Every fiber waits, nothing can wake them, and the main fiber waits where it cannot throw
/// (unwinding, shielded): it can never continue. A clear message beats a silent hang.
[[noreturn]] void deadlock_in_shielded_wait(const fiber_base* self) noexcept {
  std::fprintf(stderr,
               "grove: deadlock: every fiber is waiting and nothing can wake them, and fiber %llu "
               "'%s' waits where it cannot throw (unwinding, grove::shield or an "
               "uninterruptible wait); aborting\n",
               static_cast<unsigned long long>(self->id), self->name.c_str());
  std::abort();
}

}  // namespace

void raise_for(wake_reason reason) {
  switch (reason) {
    case wake_reason::killed:
      throw fiber_killed{};
    case wake_reason::timeout:
      throw make_timeout_error(current_fiber());
    case wake_reason::deadlock:
      throw error(
          "grove: deadlock: every fiber is waiting and nothing can wake them (no timer, I/O or "
          "callback is pending)");
    default:
      return;
  }
}

namespace {

/// The three flavours of suspension; they differ only in what they do with a kill or timeout.
enum class wait_kind : std::uint8_t {
  throwing,         ///< suspend(): throws it
  reporting,        ///< suspend_noexcept(): returns it (C frames)
  uninterruptible,  ///< suspend_uninterruptible(): leaves it pending
};

/// The one interruptibility rule (docs/architecture.md): a kill or an expired scoped timeout may end a wait
/// only if the fiber is not unwinding, not shielded, and the wait is not uninterruptible.
bool interruptible_now(const hub_impl* h, const fiber_base* self, wait_kind kind) noexcept {
  return kind != wait_kind::uninterruptible && h->uncaught_exceptions() == 0 &&
         self->shield_depth == 0;
}

/// The kill or expired timeout waiting to be raised in `self`, if any (kill first).
wake_reason pending_interruption(const fiber_base* self) noexcept {
  if (self->kill_pending) return wake_reason::killed;
  if (self->expired_timeouts) return wake_reason::timeout;
  return wake_reason::none;
}

/// errno belongs to the thread, so the hub and the other fibers overwrite it while a fiber is
/// away; a C caller around a shimmed call must find it as it left it.
struct errno_keeper {
  int saved = errno;
  ~errno_keeper() { errno = saved; }
};

/// The body of every suspension. Never throws: the throwing flavour raises what it returns.
wake_reason suspend_as(hub_impl* h, fiber_base* self, time_point deadline,
                       wait_kind kind) noexcept {
  errno_keeper keep_errno;
  bool interruptible = interruptible_now(h, self, kind);
  if (interruptible) {
    if (wake_reason pending = pending_interruption(self); pending != wake_reason::none) {
      // A throwing wait raises it now. A C frame gets it as an errno and may retry whatever
      // it gets: pass through the hub first, so such a loop cannot starve other fibers.
      if (kind == wait_kind::reporting) h->yield_current(self);
      return pending;
    }
  }
  self->interruptible = interruptible;
  wake_reason reason = h->suspend_current(deadline);
  self->interruptible = true;
  // A C frame can report a deadlock; a shielded or uninterruptible throwing wait cannot.
  if (reason == wake_reason::deadlock && !interruptible && kind != wait_kind::reporting) {
    deadlock_in_shielded_wait(self);
  }
  return reason;
}

}  // namespace

void require_fiber() {
  if (!current_fiber()) throw error(outside_fiber_message);
}

wake_reason suspend(time_point deadline) {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) throw error(outside_fiber_message);
  wake_reason reason = suspend_as(h, self, deadline, wait_kind::throwing);
  if (reason >= wake_reason::killed) raise_for(reason);
  return reason;
}

wake_reason suspend_noexcept(time_point deadline) noexcept {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) return wake_reason::none;
  return suspend_as(h, self, deadline, wait_kind::reporting);
}

wake_reason suspend_uninterruptible(time_point deadline) noexcept {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) return wake_reason::none;
  return suspend_as(h, self, deadline, wait_kind::uninterruptible);
}

void yield() {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) throw error(outside_fiber_message);
  bool interruptible = interruptible_now(h, self, wait_kind::throwing);
  if (interruptible) raise_for(pending_interruption(self));
  {
    errno_keeper keep_errno;
    h->yield_current(self);
  }
  if (interruptible) raise_for(pending_interruption(self));
}

yield_plan yield_prepare() {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) throw error(outside_fiber_message);
  if (interruptible_now(h, self, wait_kind::throwing)) raise_for(pending_interruption(self));
  self->state = fiber_state::ready;
  h->push_ready(self);
  execution_context* to = h->next_context(self);
  if (!to) return {nullptr, nullptr};
  h->begin_switch(self->ctx, *to);
  return {to->fctx, &self->ctx};
}

void yield_finish(jump_result arrival) {
  hub_impl* h = t_hub;
  fiber_base* self = h->running();
  if (arrival.data) h->after_switch(arrival, self->ctx);
  if (interruptible_now(h, self, wait_kind::throwing)) raise_for(pending_interruption(self));
}

void arm_timer(timer_node& node) {
  hub_impl* h = t_hub;
  if (!h) throw error("grove: timers need a running hub (grove::run)");
  h->arm(node);
}

void disarm_timer(timer_node& node) noexcept {
  if (node.armed() && t_hub) t_hub->disarm(node);
}

void launch(fiber_base* f, const spawn_options& options, time_point start_at) {
  hub_impl* h = t_hub;
  if (!h) throw error("grove::spawn needs a running hub: call it inside grove::run");
  h->launch(f, options, start_at);
}

void kill(fiber_base* f) noexcept {
  if (f && f->hub && f->state != fiber_state::finished) f->hub->kill(f);
}

void report_unhandled(const fiber_base* f) noexcept {
  // No allocation but the demangler's, which may fail (then the mangled name is printed).
  auto id = static_cast<unsigned long long>(f->id);
  try {
    std::rethrow_exception(f->error);
  } catch (const std::exception& e) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::fprintf(stderr, "grove: fiber %llu '%s' died with an unhandled exception: %s: %s\n", id,
                 f->name.c_str(), status == 0 && name ? name : typeid(e).name(), e.what());
    std::free(name);
  } catch (...) {
    std::fprintf(stderr,
                 "grove: fiber %llu '%s' died with an unhandled exception: an exception not "
                 "derived from std::exception\n",
                 id, f->name.c_str());
  }
}

void release(fiber_base* f) noexcept {
  if (--f->refs != 0) return;
  if (f->error && !f->error_observed && f->state == fiber_state::finished) report_unhandled(f);
  delete f;
}

// ---------------------------------------------------------------------------------------------
// hub_impl: construction and the loop

hub_impl::hub_impl()
    : eh_globals_(abi::__cxa_get_globals()), io_(1), asio_timer_(io_), facade_(this) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &low, &size);
    loop_ctx_.stack_low = low;
    loop_ctx_.stack_size = size;
    pthread_attr_destroy(&attr);
  }
}

hub_impl::~hub_impl() {
  // Callbacks still queued or armed will never run; their handles stay valid but inert.
  while (callback_node* n = soon_head_) {
    soon_head_ = n->next;
    n->hub = nullptr;
    n->cancelled = true;
    release(n);
  }
  std::vector<timer_node*> armed;
  armed.swap(heap_);
  for (timer_node* t : armed) {
    t->heap_index = timer_node::not_armed;
    if (t->fire == &callback_timer_fired) {
      auto* node = static_cast<callback_node*>(t);
      node->hub = nullptr;
      node->cancelled = true;
      release(node);
    }
  }
}

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
  main_ = main;
  spawn_options options;
  options.name = main->name;
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
    if (ready_head_) {
      budget_ = switch_budget;
      if (fiber_base* f = pop_runnable()) {
        f->state = fiber_state::running;
        switch_to(loop_ctx_, f->ctx);
      }
    }
    if (soon_head_) run_callbacks();
    if (!shutting_down_ && main_->state == fiber_state::finished) {
      shutting_down_ = true;
      kill_all_live();
    }
    if (shutting_down_ && live_count_ == 0) break;
    // The io_context also stops when its outstanding work drops to zero outside run(), e.g. a
    // fiber releasing an executor_work_guard; a stopped run_one() would return 0 at once and
    // look like a deadlock. So restart before polling, not after.
    if (io_.stopped()) io_.restart();
    if (ready_head_ || soon_head_) {
      io_.poll();
      continue;
    }
    // Idle: the moment to give the memory of surplus idle stacks back, a bounded batch at a
    // time (then poll: a batch may take a while, and work may have arrived meanwhile).
    if (stacks_.has_surplus()) {
      stacks_.trim();
      io_.poll();
      continue;
    }
    if (io_.run_one() == 0 && !ready_head_ && !soon_head_) {
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
  std::fprintf(stderr,
               "grove: %zu fiber(s) still waiting when grove::run ended could not be unwound "
               "(nothing can wake them); they are abandoned, their destructors never run:\n",
               live_count_);
  while (fiber_base* f = live_head_) {
    std::fprintf(stderr, "grove:   fiber %llu '%s'\n", static_cast<unsigned long long>(f->id),
                 f->name.c_str());
    if (f->deadline.armed()) disarm(f->deadline);
    f->state = fiber_state::finished;
    f->killed = true;
    live_head_ = f->next_live;
    if (live_head_) live_head_->prev_live = nullptr;
    f->prev_live = f->next_live = nullptr;
    --live_count_;
    // The hub's reference and the stack mapping are deliberately leaked.
  }
}

void hub_impl::kill_all_live() noexcept {
  // kill() only schedules (no fiber runs or finishes here), so the live list stays intact.
  for (fiber_base* f = live_head_; f; f = f->next_live) kill(f);
}

void hub_impl::run_callbacks() {
  callback_node* last = soon_tail_;
  while (callback_node* n = soon_head_) {
    soon_head_ = n->next;
    if (!soon_head_) soon_tail_ = nullptr;
    if (!n->cancelled) {
      n->done = true;
      try {
        n->fn();
      } catch (...) {
        std::fprintf(stderr, "grove: a hub callback threw; the exception is dropped\n");
      }
      n->fn = nullptr;
    }
    bool was_last = n == last;
    release(n);
    if (was_last) break;
  }
}

// ---------------------------------------------------------------------------------------------
// Scheduling

void hub_impl::launch(fiber_base* f, const spawn_options& options, time_point start_at) {
  if (stack_failure_ && stacks_.round(options.stack_size) >= stack_failure_size_) {
    std::rethrow_exception(stack_failure_);
  }
  reserve_timers(1);  // room for the new fiber's deadline: its waits must not allocate
  f->hub = this;
  if (next_id_ == id_block_end_) {  // ids come in blocks: no atomic per spawn
    next_id_ = g_next_fiber_id.fetch_add(id_block, std::memory_order_relaxed) + 1;
    id_block_end_ = next_id_ + id_block;
  }
  f->id = next_id_++;
  if (f->name.empty()) f->name = options.name;
  f->stack_size = stacks_.round(options.stack_size);
  f->deadline.owner = f;
  f->deadline.fire = &deadline_fired;
  retain(f);  // the hub's reference, dropped when the fiber's stack is retired
  f->next_live = live_head_;
  if (live_head_) live_head_->prev_live = f;
  live_head_ = f;
  ++live_count_;
  if (shutting_down_) {
    f->kill_pending = true;
    start_at = no_deadline;  // it will never run its function: don't keep run() waiting for it
  }
  if (start_at == no_deadline) {
    f->state = fiber_state::ready;
    push_ready(f);
  } else {
    f->state = fiber_state::created;
    f->deadline.when = start_at;
    arm_deadline(f->deadline);
  }
}

bool hub_impl::prepare_to_start(fiber_base* f) noexcept {
  // A fiber killed before it started still gets a stack: its callable (and everything it
  // captured) is destroyed there, in fiber context, where a destructor may wait.
  try {
    f->stack = stacks_.allocate(f->stack_size);
  } catch (...) {
    stack_failure_ = std::current_exception();
    stack_failure_size_ = f->stack_size;
    finish_unstarted(f, stack_failure_, false);
    return false;
  }
  char* low = static_cast<char*>(f->stack.base) + f->stack.guard;
  std::size_t usable = f->stack.size - f->stack.guard;
  f->ctx.stack_low = low;
  f->ctx.stack_size = usable;
  f->ctx.fiber = f;
  f->ctx.fctx = ctx::make_fcontext(low + usable, usable, &hub_impl::fiber_entry);
  return true;
}

wake_reason hub_impl::suspend_current(time_point deadline) noexcept {
  fiber_base* self = current_;
  if (deadline != no_deadline) {
    self->deadline.when = deadline;
    arm_deadline(self->deadline);
  }
  self->state = fiber_state::suspended;
  self->reason = wake_reason::none;
  switch_away(self);
  ++self->suspension;  // every token of the suspension that just ended is stale now
  if (self->deadline.armed()) disarm(self->deadline);
  return self->reason;
}

void hub_impl::fiber_entry(ctx::transfer_t t) noexcept {
  hub_impl* h = t_hub;
  fiber_base* self = h->current_;
  h->after_switch(t, self->ctx);
  try {
    if (self->kill_pending) {  // killed before it started: never run the function
      self->killed = true;
      ++self->shield_depth;  // its captures' destructors may wait; the kill is already done
      self->discard_body();
      --self->shield_depth;
    } else {
      self->run_body();
    }
  } catch (const fiber_killed&) {
    self->killed = true;
  } catch (...) {
    self->error = std::current_exception();
  }
  // What the fiber leaves behind is destroyed here, shielded: destructors may wait, and a kill
  // or timeout must not throw out of them.
  ++self->shield_depth;
  if (self->locals) destroy_fiber_locals(self);
  if (self->refs == 1) {
    // Detached: nobody can ever get() the result, so report and destroy it here, on the
    // fiber's own stack, rather than in whichever context retires the block.
    if (self->error) {
      report_unhandled(self);
      self->error_observed = true;
    }
    self->drop_result();
  }
  --self->shield_depth;
  h->finish_current(self);
}

void hub_impl::finish_current(fiber_base* self) {
  mark_finished(self);
  self->ctx.finished = true;
  fiber_base* next = budget_ > 0 ? pop_runnable() : nullptr;
  if (next) {
    --budget_;
    next->state = fiber_state::running;
    switch_to(self->ctx, next->ctx);
  } else {
    switch_to(self->ctx, loop_ctx_);
  }
  __builtin_unreachable();
}

void hub_impl::mark_finished(fiber_base* f) noexcept {
  f->state = fiber_state::finished;
  if (f->prev_live) {
    f->prev_live->next_live = f->next_live;
  } else {
    live_head_ = f->next_live;
  }
  if (f->next_live) f->next_live->prev_live = f->prev_live;
  f->prev_live = f->next_live = nullptr;
  --live_count_;
  f->joiners.notify_all();
  if (f->error && f->refs == 1) {  // only the hub holds it: nobody can ever get() it
    report_unhandled(f);
    f->error_observed = true;
  }
}

void hub_impl::finish_unstarted(fiber_base* f, std::exception_ptr error, bool killed) noexcept {
  f->discard_body();  // captures must not live on until the last handle is dropped
  f->error = std::move(error);
  f->killed = killed;
  mark_finished(f);
  release(f);
}

void hub_impl::retire(fiber_base* f) noexcept {
  if (f->stack.base) {
    stacks_.release(f->stack);
    f->stack = {};
    stack_failure_ = nullptr;  // a stack came back: new fibers may start again
  }
  release(f);
}

void hub_impl::kill(fiber_base* f) noexcept {
  f->kill_pending = true;
  if (f->state == fiber_state::created) {  // spawn_later, not started: start now, to end at once
    disarm(f->deadline);
    f->state = fiber_state::ready;
    push_ready(f);
  } else if (f->state == fiber_state::suspended && f->interruptible) {
    interrupt(f, wake_reason::killed);
  }
}

// ---------------------------------------------------------------------------------------------
// Timers: a binary heap of timer_nodes, one Asio steady_timer armed at the earliest deadline.

void hub_impl::heap_up(std::uint32_t i) noexcept {
  timer_node* node = heap_[i];
  while (i > 0) {
    std::uint32_t parent = (i - 1) / 2;
    if (!heap_less(node, heap_[parent])) break;
    heap_[i] = heap_[parent];
    heap_[i]->heap_index = i;
    i = parent;
  }
  heap_[i] = node;
  node->heap_index = i;
}

void hub_impl::heap_down(std::uint32_t i) noexcept {
  timer_node* node = heap_[i];
  auto n = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    std::uint32_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_less(heap_[child + 1], heap_[child])) ++child;
    if (!heap_less(heap_[child], node)) break;
    heap_[i] = heap_[child];
    heap_[i]->heap_index = i;
    i = child;
  }
  heap_[i] = node;
  node->heap_index = i;
}

void hub_impl::heap_remove(timer_node& node) noexcept {
  std::uint32_t i = node.heap_index;
  node.heap_index = timer_node::not_armed;
  timer_node* last = heap_.back();
  heap_.pop_back();
  if (last != &node) {
    heap_[i] = last;
    last->heap_index = i;
    heap_up(i);
    heap_down(last->heap_index);
  }
}

// The heap never grows under a noexcept suspension: every live fiber has at most one deadline
// armed (its own `deadline` node), so keeping room for one per live fiber beyond the other
// timers, reserved where throwing is allowed (spawn, timeouts, call_later), is enough.
void hub_impl::reserve_timers(std::size_t extra) {
  std::size_t needed = heap_.size() + live_count_ + extra;
  if (heap_.capacity() < needed) heap_.reserve(std::max(needed, 2 * heap_.capacity()));
}

void hub_impl::arm(timer_node& node) {
  reserve_timers(1);
  heap_insert(node);
}

void hub_impl::arm_deadline(timer_node& node) noexcept { heap_insert(node); }

void hub_impl::heap_insert(timer_node& node) noexcept {
  if (node.armed()) heap_remove(node);
  if (node.when == no_deadline) return;  // "forever": nothing to fire
  node.sequence = ++timer_sequence_;
  heap_.push_back(&node);  // within the capacity reserve_timers keeps
  heap_up(static_cast<std::uint32_t>(heap_.size() - 1));
  if (node.when < asio_timer_at_) rearm_asio_timer();
}

void hub_impl::disarm(timer_node& node) noexcept {
  if (!node.armed()) return;
  heap_remove(node);
  if (heap_.empty() && asio_timer_at_ != no_deadline) {
    // Leave no pending wait behind: an idle hub must be able to tell it is deadlocked.
    asio_timer_at_ = no_deadline;
    asio_timer_.cancel();
  }
}

void hub_impl::rearm_asio_timer() {
  if (heap_.empty()) return;
  time_point top = heap_.front()->when;
  if (top == asio_timer_at_) return;
  asio_timer_at_ = top;
  asio_timer_.expires_at(top);
  asio_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // superseded by a later expires_at / cancel
    asio_timer_at_ = no_deadline;
    fire_timers();
    rearm_asio_timer();
  });
}

void hub_impl::fire_timers() noexcept {
  time_point now = clock::now();
  std::size_t budget = heap_.size();  // nodes armed by a fire() run in the next round
  while (budget-- > 0 && !heap_.empty() && heap_.front()->when <= now) {
    timer_node* node = heap_.front();
    heap_remove(*node);
    node->fire(node);
  }
}

// ---------------------------------------------------------------------------------------------
// Callbacks

void release(callback_node* node) noexcept {
  if (--node->refs == 0) delete node;
}

void callback_timer_fired(timer_node* t) noexcept {
  auto* node = static_cast<callback_node*>(t);
  if (!node->cancelled) {
    node->done = true;
    try {
      node->fn();
    } catch (...) {
      std::fprintf(stderr, "grove: a hub callback threw; the exception is dropped\n");
    }
    node->fn = nullptr;
  }
  release(node);
}

callback_handle hub_impl::call_soon(std::function<void()> fn) {
  auto* node = new callback_node;
  node->fn = std::move(fn);
  node->hub = this;
  node->refs = 1;  // the queue's
  if (soon_tail_) {
    soon_tail_->next = node;
  } else {
    soon_head_ = node;
  }
  soon_tail_ = node;
  return callback_handle(node);
}

callback_handle hub_impl::call_later(clock::duration delay, std::function<void()> fn) {
  auto* node = new callback_node;
  node->fn = std::move(fn);
  node->hub = this;
  node->fire = &callback_timer_fired;
  node->when = deadline_after(delay);
  callback_handle handle(node);
  if (node->when != no_deadline) {  // a callback "forever" away lives only in its handles
    arm(*node);
    ++node->refs;  // the heap's (after arm, which may throw)
  }
  return handle;
}

void hub_impl::cancel(callback_node* node) noexcept {
  node->cancelled = true;
  node->fn = nullptr;
  if (node->armed()) {
    disarm(*node);
    release(node);  // the heap's reference
  }
}

}  // namespace grove::detail

// -------------------------------------------------------------------------------------------
// Public facade

namespace grove {

callback_handle::callback_handle(detail::callback_node* node) noexcept : node_(node) {
  ++node_->refs;
}
callback_handle::callback_handle(const callback_handle& other) noexcept : node_(other.node_) {
  if (node_) ++node_->refs;
}
callback_handle::callback_handle(callback_handle&& other) noexcept
    : node_(std::exchange(other.node_, nullptr)) {}
callback_handle& callback_handle::operator=(callback_handle other) noexcept {
  std::swap(node_, other.node_);
  return *this;
}
callback_handle::~callback_handle() {
  if (node_) detail::release(node_);
}

bool callback_handle::cancel() noexcept {
  if (!pending()) return false;
  node_->hub->cancel(node_);
  return true;
}

bool callback_handle::pending() const noexcept {
  return node_ && node_->hub && !node_->cancelled && !node_->done;
}

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

callback_handle call_soon(std::function<void()> fn) {
  return hub::current().call_soon(std::move(fn));
}

}  // namespace grove
