// The hub's internals: ready queue, direct fiber-to-fiber switching, timers, callbacks and the
// loop over Asio. Its members live in one file a job: hub.cpp (the loop), suspension.cpp,
// fiber_lifecycle.cpp, timers.cpp (over timer_heap.hpp), callbacks.cpp, reports.cpp. One per
// thread; nothing here is thread-safe (cross-thread wake-ups go through io_context::post).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <grove/detail/context_jump.hpp>
#include <grove/detail/fiber_base.hpp>
#include <grove/hub.hpp>

#include "core/sanitizers.hpp"
#include "core/stack_pool.hpp"
#include "core/timer_heap.hpp"

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
  /// Where the running fiber `self` goes when it suspends: the next ready fiber (marked
  /// running), the loop, or nullptr when `self` itself is next and runs on.
  execution_context* next_context(fiber_base* self) noexcept;
  /// First half of a switch: saves what `from` must get back and makes `to` current. Then jump
  /// to `to.fctx` passing `&from`, and call after_switch on arrival.
  void begin_switch(execution_context& from, execution_context& to) noexcept;
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
  void after_switch(jump_result t, execution_context& self) noexcept;
  void after_switch(boost::context::detail::transfer_t t, execution_context& self) noexcept {
    after_switch(jump_result{t.fctx, t.data}, self);
  }
  /// Kills `f` (see fiber<T>::kill).
  void kill(fiber_base* f) noexcept;

  fiber_base* running() const noexcept { return current_; }
  std::size_t live_count() const noexcept { return live_count_; }
  /// The first of the fibers that have not finished (linked by next_live).
  const fiber_base* live_head() const noexcept { return live_head_; }
  /// The hub's stack pool (its counters: stacks mapped, stacks in use).
  const stack_pool& stacks() const noexcept { return stacks_; }

  // Timers -------------------------------------------------------------------------------
  /// Arms `node` (re-arms it if armed). May allocate: for timers that are not a fiber's own
  /// deadline (scoped timeouts, callbacks), armed where throwing is allowed.
  void arm(timer_node& node);
  /// Arms a fiber's own deadline; never allocates (see reserve_timers).
  void arm_deadline(timer_node& node) noexcept;
  void disarm(timer_node& node) noexcept;

  // Callbacks ----------------------------------------------------------------------------
  callback_handle call_soon(std::function<void()> fn);
  callback_handle call_later(clock::duration delay, std::function<void()> fn);
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

  void reserve_timers(std::size_t extra);
  void insert_timer(timer_node& node) noexcept;

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

  timer_heap timers_;
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

inline void hub_impl::begin_switch(execution_context& from, execution_context& to) noexcept {
  // The thread's exception state is swapped here, not on arrival: nothing between here and
  // the arrival throws, and the arrival (inline in this_fiber::yield) stays minimal.
  auto* eh = static_cast<eh_globals*>(eh_globals_);
  from.eh_caught = eh->caught_exceptions;
  from.eh_uncaught = eh->uncaught_exceptions;
  eh->caught_exceptions = to.eh_caught;
  eh->uncaught_exceptions = to.eh_uncaught;
  current_ = to.fiber;
  sanitizer_start_switch(from.finished ? nullptr : &from.asan_fake_stack, to.stack_low,
                         to.stack_size);
}

inline void hub_impl::switch_to(execution_context& from, execution_context& to) noexcept {
  begin_switch(from, to);
  sanitizer_switch_fiber(to.tsan_fiber);  // here, in the frame that jumps (sanitizers.hpp)
  after_switch(jump_to(to.fctx, &from), from);
}

inline void hub_impl::after_switch(jump_result t, execution_context& self) noexcept {
  sanitizer_finish_switch(self.asan_fake_stack);
  auto* prev = static_cast<execution_context*>(t.data);
  if (prev->finished) [[unlikely]] {
    retire(prev->fiber);
  } else {
    prev->fctx = t.fctx;
  }
}

inline execution_context* hub_impl::next_context(fiber_base* self) noexcept {
  // A fiber yielding with nothing else ready goes through the loop, so I/O, timers and
  // callbacks get their turn instead of the fiber spinning alone.
  bool alone = ready_head_ == self && ready_tail_ == self;
  fiber_base* next = budget_ > 0 && !alone ? pop_runnable() : nullptr;
  if (!next) return &loop_ctx_;
  --budget_;
  next->state = fiber_state::running;
  return next == self ? nullptr : &next->ctx;
}

inline void hub_impl::switch_away(fiber_base* self) noexcept {
  if (execution_context* to = next_context(self)) switch_to(self->ctx, *to);
}

/// Ends the current suspension of `f` with `reason`, whichever suspension it is: for what
/// concerns the fiber rather than one wait (kill, scoped timeouts, deadlock) and for the
/// suspension's own deadline. Everything else wakes a wake_token. False if not suspended.
bool interrupt(fiber_base* f, wake_reason reason) noexcept;

/// Destroys the grove::fiber_local values of a finishing fiber (on its own stack).
void destroy_fiber_locals(fiber_base* f) noexcept;

// Reports (lib/core/reports.cpp): one line each on stderr, allocation-free but for the
// demangler.
/// Prints "grove: fiber <id> '<name>' died with an unhandled exception: ...".
void report_unhandled(const fiber_base* f) noexcept;
/// Says that a hub callback threw and its exception was dropped.
void report_callback_exception() noexcept;
/// Says that `count` fibers were still waiting, beyond repair, when grove::run ended.
void report_abandoned(std::size_t count) noexcept;
/// One line of that report: the fiber's id and name.
void report_abandoned_fiber(const fiber_base* f) noexcept;
/// Every fiber waits, nothing can wake them, and `self` waits where it cannot throw: aborts.
[[noreturn]] void abort_deadlocked_shielded_wait(const fiber_base* self) noexcept;

}  // namespace grove::detail
