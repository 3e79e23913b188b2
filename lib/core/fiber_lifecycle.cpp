// A fiber's life on its hub: launch (ids, the live list, spawn_later), the first switch onto a
// fresh stack, the entry function, finishing, retiring the stack, and kill.
#include <atomic>
#include <exception>
#include <new>
#include <source_location>
#include <string>

#include <grove/error.hpp>

#include "core/hub_impl.hpp"

namespace ctx = boost::context::detail;

namespace grove::detail {

namespace {

std::atomic<std::uint64_t> g_next_fiber_id{0};

void deadline_fired(timer_node* node) noexcept {
  fiber_base* owner = fiber_base::of_deadline(node);
  if (owner->state == fiber_state::created) {  // spawn_later: time to start
    owner->state = fiber_state::ready;
    owner->hub->queue_start(owner);
  } else {
    interrupt(owner, wake_reason::deadline);  // armed only for the suspension it ends
  }
}

// A debug mode: filling a whole stack touches all its pages. Unsanitized: a reused stack may
// still carry the sanitizer's poison of its previous fiber's frames.
__attribute__((no_sanitize("address"))) void paint_stack(char* low, char* high) noexcept {
  for (char* p = low; p < high; ++p) *p = static_cast<char>(stack_paint);
}

}  // namespace

void launch(fiber_base* f, const spawn_options& options, time_point start_at) {
  hub_impl* h = t_hub;
  if (!h) throw error("grove::spawn needs a running hub: call it inside grove::run");
  h->launch(f, options, start_at);
}

void kill(fiber_base* f) noexcept {
  if (f && f->hub && f->state != fiber_state::finished) f->hub->kill(f);
}

void release(fiber_base* f) noexcept {
  if (--f->refs != 0) return;
  if (f->error && !f->error_observed && f->state == fiber_state::finished) report_unhandled(f);
  delete f;
}

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
  if (!options.name.empty() && f->name().empty()) f->set_name(options.name);
  f->stack_size = stacks_.round(options.stack_size);
  f->deadline().fire = &deadline_fired;
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
    queue_start(f);
  } else {
    f->state = fiber_state::created;
    f->deadline().when = start_at;
    arm_deadline(f->deadline());
  }
}

void hub_impl::queue_start(fiber_base* f) noexcept {
  if (!start_head_ && admitted_ < start_batch) {
    ++admitted_;
    push_ready(f);
    return;
  }
  f->next_ready = nullptr;
  if (start_tail_) {
    start_tail_->next_ready = f;
  } else {
    start_head_ = f;
  }
  start_tail_ = f;
}

void hub_impl::admit_starts() noexcept {
  while (start_head_ && admitted_ < start_batch) {
    fiber_base* f = start_head_;
    start_head_ = f->next_ready;
    if (!start_head_) start_tail_ = nullptr;
    ++admitted_;
    push_ready(f);
  }
}

bool prepare_to_start(hub_core& hub, fiber_base* f) noexcept {
  auto& h = static_cast<hub_impl&>(hub);
  // One admitted start leaves the ready queue: the next queued one takes its place, behind
  // whatever woke meanwhile.
  if (h.admitted_ != 0) --h.admitted_;
  h.admit_starts();
  // A fiber killed before it started still gets a stack: its callable (and everything it
  // captured) is destroyed there, in fiber context, where a destructor may wait.
  try {
    f->stack_base = h.stacks_.allocate(f->stack_size).base;
  } catch (...) {
    h.stack_failure_ = std::current_exception();
    h.stack_failure_size_ = f->stack_size;
    h.finish_unstarted(f, h.stack_failure_, false);
    return false;
  }
  char* low = static_cast<char*>(f->stack_base) + stack_pool::guard_bytes;
  std::size_t usable = f->stack_size;
  f->ctx.fiber = f;
#ifdef GROVE_TSAN
  f->ctx.tsan_fiber = sanitizer_create_fiber();
#endif
  char* top = low + usable - stack_top_reserve;
  if (h.paint_stacks_) paint_stack(low, top);
  // The spawn site moves from the control block to the top of the stack, beside the wait
  // record; its word in the block becomes the suspension count (fiber_base::spawned_at).
  std::source_location spawned_at = f->spawned_at;
  f->suspension = 0;
  new (top) stack_top{{}, spawned_at};
  f->ctx.fctx = ctx::make_fcontext(top, usable - stack_top_reserve, &hub_impl::fiber_entry);
  return true;
}

std::source_location spawn_site(const fiber_base* f) noexcept {
  if (!f->ctx.fctx) return f->spawned_at;  // not started: still in the block
  return f->stack_base ? stack_top_of(f).spawned_at : std::source_location();
}

void hub_impl::fiber_entry(ctx::transfer_t t) noexcept {
  hub_impl* h = t_hub;
  fiber_base* self = h->current_;
  sanitizer_finish_switch(nullptr);
  h->exception_state() = {nullptr, 0};  // a fresh context: no exception caught or in flight
  h->arrive({t.fctx, t.data});
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
  if (self->locals()) destroy_fiber_locals(self);
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
  fiber_base* next = budget() > 0 ? pop_runnable() : nullptr;
  if (next) {
    spend_budget();
    next->state = fiber_state::running;
    switch_to(self->ctx, next->ctx, true);
  } else {
    switch_to(self->ctx, loop_ctx_, true);
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
  if (fiber_extras* x = f->extras_if_any()) x->joiners.notify_all();
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
#ifdef GROVE_TSAN
  sanitizer_destroy_fiber(f->ctx.tsan_fiber);
  f->ctx.tsan_fiber = nullptr;
#endif
  if (f->stack_base) {
    stacks_.release(stack_pool::mapping_of(f->stack_base, f->stack_size));
    f->stack_base = nullptr;
    stack_failure_ = nullptr;  // a stack came back: new fibers may start again
  }
  release(f);
}

void hub_impl::kill(fiber_base* f) noexcept {
  f->kill_pending = true;
  if (f->state == fiber_state::created) {  // spawn_later, not started: start now, to end at once
    disarm(f->deadline());
    f->state = fiber_state::ready;
    queue_start(f);
  } else if (f->state == fiber_state::suspended && f->interruptible) {
    interrupt(f, wake_reason::killed);
  }
}

}  // namespace grove::detail
