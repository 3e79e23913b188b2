// The hub's internals: ready queue, direct fiber-to-fiber switching, timers, callbacks and the
// loop over Asio. Its members live in one file a job: hub.cpp (the loop), suspension.cpp,
// fiber_lifecycle.cpp, timers.cpp (over timer_heap.hpp), callbacks.cpp, reports.cpp. One per
// thread; nothing here is thread-safe: other threads reach a hub only through its hub_control
// (core/hub_control.hpp), whose inbox the loop drains.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <source_location>
#include <grove/detail/context_jump.hpp>
#include <grove/detail/fiber_base.hpp>
#include <grove/detail/hub_core.hpp>
#include <grove/hub.hpp>

#include "core/hub_watch.hpp"
#include "core/asio_thread.hpp"
#include "core/sanitizers.hpp"
#include "core/stack_pool.hpp"
#include "core/timer_heap.hpp"

namespace grove::detail {

class fd_poller;
struct hub_control;
struct inbox_item;
struct remote_waiter;
// t_hub (hub_core.hpp) is initial-exec: one TLS access without a __tls_get_addr call; the
// variable is tiny, so the static TLS surplus covers libgrove.so even when it is loaded late.

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

// The scheduling state (hub_core) is the one base, so t_hub doubles as a hub_core* for the
// inline yield; no virtual functions here for the same reason.
class hub_impl : public hub_core {
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
  /// Queues a fiber that has never run (state already ready) to start.
  void queue_start(fiber_base* f) noexcept;
  /// Suspends the running fiber (state already set by the caller) until someone resumes it.
  void switch_away(fiber_base* self) noexcept;
  /// Suspends the running fiber with an optional deadline; returns the wake reason.
  wake_reason suspend_current(time_point deadline) noexcept;
  /// Puts the running fiber at the back of the ready queue and runs the others.
  void yield_current(fiber_base* self) noexcept {
    self->state = fiber_state::ready;
    push_yielded(self);
    switch_away(self);
  }
  /// Ends the running fiber: never returns.
  [[noreturn]] void finish_current(fiber_base* self);
  /// Called on arrival on a stack: records where the previous context stopped, or retires it
  /// if it finished.
  void arrive(jump_result t) noexcept;
  /// Kills `f` (see fiber<T>::kill).
  void kill(fiber_base* f) noexcept;

  fiber_base* running() const noexcept { return current_; }
  std::size_t live_count() const noexcept { return live_count_; }
  /// The first of the unfinished fibers (then fiber_base::next_live): grove::dump_fibers.
  fiber_base* live_head() const noexcept { return live_head_; }
  hub_watch& watch() noexcept { return watch_; }
  /// True when GROVE_STACK_PAINT asked for painted stacks (high-water marks in the dump).
  bool paints_stacks() const noexcept { return paint_stacks_; }
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
  /// The hub as a thread of io() (see asio_thread.hpp).
  asio_thread& asio() noexcept { return asio_thread_; }
  /// The hub's descriptor set (lib/core/fd_wait.cpp), once made; a service of io().
  fd_poller* fd_poller_cache() const noexcept { return fd_poller_; }
  void set_fd_poller_cache(fd_poller* p) noexcept { fd_poller_ = p; }
  grove::hub& facade() noexcept { return facade_; }
  /// What other threads hold to reach this hub (core/hub_control.hpp).
  const std::shared_ptr<hub_control>& control() const noexcept { return control_; }
  /// A fiber starts / stops waiting where another thread may wake it: while any does, the loop
  /// blocks for work instead of reporting a deadlock.
  void remote_wait_begin() noexcept;
  void remote_wait_end() noexcept;
  /// Polls `r->signalled` from the loop until unwatch(r): a waker then only sets that flag.
  /// False when every slot is taken (the waker posts `r` to the inbox instead).
  bool watch(remote_waiter* r) noexcept;
  /// Stops polling `r` (no-op if not watched).
  void unwatch(remote_waiter* r) noexcept;
  /// True once the main fiber has finished and the hub is killing the others.
  bool ending() const noexcept { return shutting_down_; }
  std::uint64_t next_timeout_serial() noexcept { return ++timeout_serial_; }

 private:
  /// Switches from the running context to `to`; `finished`: `from` will never be resumed.
  void switch_to(execution_context& from, execution_context& to, bool finished = false) noexcept;
  friend bool prepare_to_start(hub_core& hub, fiber_base* f) noexcept;
  void finish_unstarted(fiber_base* f, std::exception_ptr error, bool killed) noexcept;
  void mark_finished(fiber_base* f) noexcept;
  void retire(fiber_base* f) noexcept;
  static void fiber_entry(boost::context::detail::transfer_t t) noexcept;

  void loop();
  void close_control() noexcept;
  void run_inbox() noexcept;
  bool spin_for_inbox() noexcept;
  /// True if a watched waiter was signalled (seq_cst: the sleep handshake's second look).
  bool watched_signalled(std::memory_order order) const noexcept;
  /// Wakes every watched waiter that was signalled, and stops watching it.
  void run_watched() noexcept;
  void run_callbacks();
  void fire_timers() noexcept;
  void fire_due_timers() noexcept {
    if (!timers_.empty() && timers_.top_when() <= clock::now()) fire_timers();
  }
  void arm_asio_timer_for_sleep();
  void admit_starts() noexcept;
  void on_deadlock();
  void kill_all_live() noexcept;

  void reserve_timers(std::size_t extra);
  void insert_timer(timer_node& node) noexcept;

  fiber_base* live_head_ = nullptr;
  std::size_t live_count_ = 0;
  fiber_base* main_ = nullptr;
  bool shutting_down_ = false;

  /// Fibers never started wait in hub_core's start queue; only start_batch of them sit in
  /// the ready queue at once (admitted_), so a fiber that wakes waits behind at most that many
  /// starts instead of behind every fiber spawned before it: finished fibers hand their warm
  /// stacks to the next starts (LIFO pool) instead of each start faulting in a fresh stack
  /// (bench/RESULTS.md, "1M sleepers: starts interleaved with wakes"). Starts stay FIFO among
  /// themselves, and a yield still runs every fiber spawned before it first (push_yielded).
  static constexpr std::size_t start_batch = 64;
  /// Unstarted fibers in the ready queue, approximate: a yield moves the whole start queue
  /// there uncounted. Only a pace, never a condition for a fiber to start (see loop).
  std::size_t admitted_ = 0;

  static constexpr std::uint64_t id_block = 4096;
  std::uint64_t next_id_ = 0;
  std::uint64_t id_block_end_ = 0;

  /// How late a sleeping hub may wake for a timer, to end several with one sleep (timers.cpp).
  static constexpr clock::duration timer_slack = std::chrono::microseconds(50);
  timer_heap timers_;
  std::uint64_t timeout_serial_ = 0;
  time_point asio_timer_at_ = no_deadline;

  callback_node* soon_head_ = nullptr;
  callback_node* soon_tail_ = nullptr;

  std::exception_ptr stack_failure_;    ///< last stack mapping error, until a stack comes back
  std::size_t stack_failure_size_ = 0;  ///< the size that failed: smaller requests may still map
  fd_poller* fd_poller_ = nullptr;
  void* loop_stack_low_ = nullptr;  ///< the thread's stack (sanitizer annotations)
  std::size_t loop_stack_size_ = 0;
  std::shared_ptr<hub_control> control_;
  std::size_t remote_waits_ = 0;
  bool remote_work_held_ = false;       ///< the io_context counts one unit of work for remote waits
  inbox_item* closed_items_ = nullptr;  ///< taken from the inbox when it closed, not yet run
  /// Waiters on other threads' wakes whose flag the loop polls (watch): a few, because every
  /// loop round and spin reads each; the rest are woken through the inbox.
  static constexpr std::uint32_t watch_slots = 4;
  remote_waiter* watched_[watch_slots] = {};
  std::uint32_t watched_count_ = 0;
  // The spin before sleeping while fibers wait on other threads (spin_for_inbox).
  std::uint32_t spin_failures_ = 0;  ///< spins in a row that found nothing
  std::uint32_t spin_backoff_ = 0;   ///< log2 of the sleeps to skip spinning after a failure run
  std::uint32_t spin_skip_ = 0;      ///< sleeps left before the hub spins again
  /// The longest spin: about what a thread wake-up costs on these VMs (hub.cpp).
  static constexpr auto spin_limit = std::chrono::microseconds(30);
  std::uint32_t spins_since_poll_ = 0;  ///< spins that found work since Asio was last polled
  static constexpr std::uint32_t spins_per_poll = 32;
  stack_pool stacks_;
  bool paint_stacks_ = false;
  hub_watch watch_;
  boost::asio::io_context io_;
  asio_thread asio_thread_;  ///< fibers and callbacks run as part of io_'s thread (loop())
  boost::asio::steady_timer asio_timer_;
  grove::hub facade_;
};

inline void hub_impl::switch_to(execution_context& from, execution_context& to,
                                bool finished) noexcept {
  current_ = to.fiber;
  // ASan is told where the next stack is; the fake stack of `from` is kept on its own stack.
  void* fake_stack = nullptr;
  if (to.fiber) {
    sanitizer_start_switch(finished ? nullptr : &fake_stack,
                           static_cast<char*>(to.fiber->stack_base) + stack_pool::guard_bytes,
                           to.fiber->stack_size);
  } else {
    sanitizer_start_switch(finished ? nullptr : &fake_stack, loop_stack_low_, loop_stack_size_);
  }
  // Each context keeps its own exception state across a switch, and jumps with an empty one
  // (hub_core::exception_state).
  eh_globals& eh = exception_state();
  eh_globals saved_eh = eh;
  eh = {nullptr, 0};
#ifdef GROVE_TSAN
  sanitizer_switch_fiber(to.tsan_fiber);  // here, in the frame that jumps (sanitizers.hpp)
#endif
  jump_result t = jump_to(to.fctx, leaving(&from, finished));
  sanitizer_finish_switch(fake_stack);
  eh = saved_eh;
  arrive(t);
}

inline void hub_impl::arrive(jump_result t) noexcept {
  execution_context* prev = left_context(t.data);
  if (left_finished(t.data)) [[unlikely]] {
    retire(prev->fiber);
  } else {
    prev->fctx = t.fctx;
  }
}

inline void hub_impl::switch_away(fiber_base* self) noexcept {
  if (execution_context* to = next_context(self)) switch_to(self->ctx, *to);
}

/// Ends the current suspension of `f` with `reason`, whichever suspension it is: for what
/// concerns the fiber rather than one wait (kill, scoped timeouts, deadlock) and for the
/// suspension's own deadline. Everything else wakes a wake_token. False if not suspended.
bool interrupt(fiber_base* f, wake_reason reason) noexcept;

/// What the top of a started fiber's stack holds, above its first frame: the diagnostics
/// grove::dump_fibers reads, kept out of the control block, which a million idle fibers pay for
/// byte by byte (docs/architecture.md, "Diagnostics"). Written when the fiber starts, then by
/// every suspension and public waiting function; it lives exactly as long as the stack is the
/// fiber's.
struct stack_top {
  wait_record wait;                 ///< what the fiber waits on and where
  std::source_location spawned_at;  ///< where it was spawned (line() == 0: unknown)
};
/// Bytes reserved for stack_top at the top of every fiber stack: the first frame below it keeps
/// the ABI's 16-byte alignment.
inline constexpr std::size_t stack_top_reserve = 32;
static_assert(sizeof(stack_top) <= stack_top_reserve && stack_top_reserve % 16 == 0);
/// The stack_top of `f`, which must have started and not finished (it has a stack).
inline stack_top& stack_top_of(const fiber_base* f) noexcept {
  char* top = static_cast<char*>(f->stack_base) + stack_guard_bytes + f->stack_size;
  return *std::launder(reinterpret_cast<stack_top*>(top - stack_top_reserve));
}
/// Where `f` was spawned (line() == 0: unknown).
std::source_location spawn_site(const fiber_base* f) noexcept;
/// The byte every stack is filled with when painted (GROVE_STACK_PAINT=1).
inline constexpr unsigned char stack_paint = 0xa5;

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
