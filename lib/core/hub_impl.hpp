// The hub's internals: ready queue, direct fiber-to-fiber switching, timer heap, callbacks and
// the loop over Asio. One per thread; nothing here is thread-safe (cross-thread wake-ups go
// through io_context::post, which is).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

#include <grove/detail/fiber_base.hpp>
#include <grove/hub.hpp>

#include "core/context_jump.hpp"
#include "core/sanitizers.hpp"
#include "core/stack_pool.hpp"

namespace grove::detail {

class hub_impl;
class fd_poller;
// initial-exec: one TLS access without a __tls_get_addr call; the variable is tiny, so the
// static TLS surplus covers libgrove.so even when it is loaded late.
extern thread_local hub_impl* t_hub __attribute__((tls_model("initial-exec")));

// Layout of the Itanium C++ ABI's __cxa_eh_globals (libstdc++ and libc++abi alike).
struct eh_globals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

/// A call_soon / call_later callback. Referenced by the hub's queue or heap and by handles.
struct callback_node : timer_node {
  std::function<void()> fn;
  callback_node* next = nullptr;
  hub_impl* hub = nullptr;
  std::uint32_t refs = 0;
  bool cancelled = false;
  bool done = false;
};
void release(callback_node* node) noexcept;

class hub_impl {
 public:
  /// Direct fiber-to-fiber switches allowed before the loop polls Asio again. Bounds how long
  /// ready fibers can starve I/O and timers; large enough that the poll's cost (a syscall when
  /// I/O is pending) vanishes per switch.
  static constexpr int switch_budget = 256;

  hub_impl();
  ~hub_impl();
  hub_impl(const hub_impl&) = delete;
  hub_impl& operator=(const hub_impl&) = delete;

  /// The hub of this thread (set while run() is active).
  static hub_impl* current() noexcept { return t_hub; }
  /// std::uncaught_exceptions() of the running fiber, without the libstdc++ TLS lookup.
  unsigned uncaught_exceptions() const noexcept {
    return static_cast<const eh_globals*>(eh_globals_)->uncaught_exceptions;
  }

  /// Runs the loop with `main` as the main fiber until it and every other fiber have finished.
  void run(fiber_base* main);

  // Scheduling ---------------------------------------------------------------------------
  /// Registers a new fiber; it starts at `start_at` (now for no_deadline).
  void launch(fiber_base* f, const spawn_options& options, time_point start_at);
  /// Appends a fiber to the ready queue (state must already say ready).
  void push_ready(fiber_base* f) noexcept {
    f->next_ready = nullptr;
    if (ready_tail_) {
      ready_tail_->next_ready = f;
    } else {
      ready_head_ = f;
    }
    ready_tail_ = f;
  }
  /// Suspends the running fiber (state already set by the caller) until someone resumes it.
  void switch_away(fiber_base* self) noexcept;
  /// Suspends the running fiber with an optional deadline; returns the wake reason.
  wake_reason suspend_current(time_point deadline) noexcept;
  /// Puts the running fiber at the back of the ready queue and runs the others.
  void yield_current(fiber_base* self) noexcept {
    self->state = fiber_state::ready;
    push_ready(self);
    switch_away(self);
  }
  /// Ends the running fiber: never returns.
  [[noreturn]] void finish_current(fiber_base* self);
  /// Called on arrival on a stack: records where the previous context stopped.
  void after_switch(boost::context::detail::transfer_t t, execution_context& self) noexcept;
  /// Kills `f` (see fiber<T>::kill).
  void kill(fiber_base* f) noexcept;

  fiber_base* running() const noexcept { return current_; }
  std::size_t live_count() const noexcept { return live_count_; }

  // Timers -------------------------------------------------------------------------------
  void arm(timer_node& node);
  void disarm(timer_node& node) noexcept;

  // Callbacks ----------------------------------------------------------------------------
  callback_handle call_soon(std::function<void()> fn);
  callback_handle call_later(std::chrono::nanoseconds delay, std::function<void()> fn);
  void cancel(callback_node* node) noexcept;

  boost::asio::io_context& io() noexcept { return io_; }
  /// The hub's descriptor set (lib/core/fd_wait.cpp), once made; a service of io().
  fd_poller* fd_poller_cache() const noexcept { return fd_poller_; }
  void set_fd_poller_cache(fd_poller* p) noexcept { fd_poller_ = p; }
  grove::hub& facade() noexcept { return facade_; }
  std::uint64_t next_timeout_serial() noexcept { return ++timeout_serial_; }

 private:
  void switch_to(execution_context& from, execution_context& to) noexcept;
  fiber_base* pop_runnable() noexcept;
  bool prepare_to_start(fiber_base* f) noexcept;
  void finish_unstarted(fiber_base* f, std::exception_ptr error, bool killed) noexcept;
  void mark_finished(fiber_base* f) noexcept;
  void retire(fiber_base* f) noexcept;
  static void fiber_entry(boost::context::detail::transfer_t t) noexcept;

  void loop();
  void run_callbacks();
  void fire_timers() noexcept;
  void rearm_asio_timer();
  void on_deadlock();
  void kill_all_live() noexcept;

  void heap_remove(timer_node& node) noexcept;
  void heap_up(std::uint32_t i) noexcept;
  void heap_down(std::uint32_t i) noexcept;
  bool heap_less(const timer_node* a, const timer_node* b) const noexcept {
    return a->when < b->when || (a->when == b->when && a->sequence < b->sequence);
  }

  fiber_base* current_ = nullptr;
  execution_context loop_ctx_;
  int budget_ = 0;
  fiber_base* ready_head_ = nullptr;
  fiber_base* ready_tail_ = nullptr;
  fiber_base* live_head_ = nullptr;
  std::size_t live_count_ = 0;
  fiber_base* main_ = nullptr;
  bool shutting_down_ = false;

  static constexpr std::uint64_t id_block = 4096;
  std::uint64_t next_id_ = 0;
  std::uint64_t id_block_end_ = 0;

  std::vector<timer_node*> heap_;
  std::uint64_t timer_sequence_ = 0;
  std::uint64_t timeout_serial_ = 0;
  time_point asio_timer_at_ = no_deadline;

  callback_node* soon_head_ = nullptr;
  callback_node* soon_tail_ = nullptr;

  std::exception_ptr stack_failure_;    ///< last stack mapping error, until a stack comes back
  std::size_t stack_failure_size_ = 0;  ///< the size that failed: smaller requests may still map
  void* eh_globals_;
  fd_poller* fd_poller_ = nullptr;
  stack_pool stacks_;
  boost::asio::io_context io_;
  boost::asio::steady_timer asio_timer_;
  grove::hub facade_;
};

inline fiber_base* hub_impl::pop_runnable() noexcept {
  while (fiber_base* f = ready_head_) {
    ready_head_ = f->next_ready;
    if (!ready_head_) ready_tail_ = nullptr;
    if (f->ctx.fctx || prepare_to_start(f)) [[likely]]
      return f;
  }
  return nullptr;
}

inline void hub_impl::switch_to(execution_context& from, execution_context& to) noexcept {
  auto* eh = static_cast<eh_globals*>(eh_globals_);
  from.eh_caught = eh->caught_exceptions;
  from.eh_uncaught = eh->uncaught_exceptions;
  current_ = to.fiber;
  sanitizer_start_switch(from.finished ? nullptr : &from.asan_fake_stack, to.stack_low,
                         to.stack_size);
  boost::context::detail::transfer_t t = jump_to(to.fctx, &from);
  after_switch(t, from);
}

inline void hub_impl::after_switch(boost::context::detail::transfer_t t,
                                   execution_context& self) noexcept {
  sanitizer_finish_switch(self.asan_fake_stack);
  auto* prev = static_cast<execution_context*>(t.data);
  if (prev->finished) [[unlikely]] {
    retire(prev->fiber);
  } else {
    prev->fctx = t.fctx;
  }
  auto* eh = static_cast<eh_globals*>(eh_globals_);
  eh->caught_exceptions = self.eh_caught;
  eh->uncaught_exceptions = self.eh_uncaught;
}

inline void hub_impl::switch_away(fiber_base* self) noexcept {
  // A fiber yielding with nothing else ready goes through the loop, so I/O, timers and
  // callbacks get their turn instead of the fiber spinning alone.
  bool alone = ready_head_ == self && ready_tail_ == self;
  fiber_base* next = budget_ > 0 && !alone ? pop_runnable() : nullptr;
  if (next) {
    --budget_;
    next->state = fiber_state::running;
    if (next == self) return;
    switch_to(self->ctx, next->ctx);
  } else {
    switch_to(self->ctx, loop_ctx_);
  }
}

/// Ends the current suspension of `f` with `reason`, whichever suspension it is: for what
/// concerns the fiber rather than one wait (kill, scoped timeouts, deadlock) and for the
/// suspension's own deadline. Everything else wakes a wake_token. False if not suspended.
bool interrupt(fiber_base* f, wake_reason reason) noexcept;

/// Destroys the grove::fiber_local values of a finishing fiber (on its own stack).
void destroy_fiber_locals(fiber_base* f) noexcept;

/// Prints "grove: fiber <id> '<name>' died with an unhandled exception: ..." once.
void report_unhandled(const fiber_base* f) noexcept;

}  // namespace grove::detail
