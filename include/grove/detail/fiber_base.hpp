// The fiber control block, shared by the public fiber<T> handle and the hub.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <grove/detail/suspension.hpp>
#include <grove/detail/timer_node.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove {
struct spawn_options;
}

namespace grove::detail {

struct scoped_timeout;
struct fiber_local_slots;

/// A place execution can be switched to: a fiber's stack, or the hub loop's (the thread's).
struct execution_context {
  void* fctx = nullptr;  ///< boost::context::detail::fcontext_t of the suspended context
  // The C++ runtime keeps "exceptions being caught" and uncaught_exceptions() per thread; each
  // fiber needs its own copy, or a fiber suspended in a catch block corrupts another's.
  void* eh_caught = nullptr;
  unsigned eh_uncaught = 0;
  void* stack_low = nullptr;  ///< lowest usable address (sanitizer annotations)
  std::size_t stack_size = 0;
  // What the sanitizer in use keeps per context (lib/core/sanitizers.hpp); ASan and TSan
  // never run together.
  union {
    void* asan_fake_stack = nullptr;  ///< ASan: this context's fake stack while switched out
    void* tsan_fiber;                 ///< TSan: this context's fiber handle
  };
  fiber_base* fiber = nullptr;  ///< nullptr for the hub loop
  bool finished = false;        ///< the context will never be resumed: release its stack
};

enum class fiber_state : std::uint8_t { created, ready, running, suspended, finished };

/// A mapped stack: [base, base + guard) is PROT_NONE, the rest is usable.
struct stack_mapping {
  void* base = nullptr;
  std::size_t size = 0;   ///< whole mapping, guard page included
  std::size_t guard = 0;  ///< guard bytes at the low end
};

/// Control block of one fiber. Reference-counted (not atomically: one hub, one thread) by the
/// handles and, while it has not finished, by the hub.
struct fiber_base {
  fiber_base() noexcept;
  virtual ~fiber_base();
  fiber_base(const fiber_base&) = delete;
  fiber_base& operator=(const fiber_base&) = delete;

  /// Runs the user's function and stores its result (exceptions propagate to the caller).
  virtual void run_body() = 0;
  /// Destroys the user's function without running it (the fiber was killed before it started).
  virtual void discard_body() noexcept = 0;
  /// Destroys the result and exception (a detached fiber ends: nobody can read them).
  virtual void drop_result() noexcept { error = nullptr; }

  execution_context ctx;
  hub_impl* hub = nullptr;
  fiber_base* next_ready = nullptr;  ///< hub's ready queue
  fiber_base* prev_live = nullptr;   ///< hub's list of unfinished fibers
  fiber_base* next_live = nullptr;
  fiber_state state = fiber_state::created;
  wake_reason reason = wake_reason::none;
  /// Number of the current suspension (while suspended) or of the next one (while running):
  /// wake tokens carry it, and it moves on when a suspension ends, so stale tokens are refused.
  std::uint64_t suspension = 0;
  bool kill_pending = false;
  bool interruptible = true;    ///< false while unwinding: kill/timeout wait for later
  bool error_observed = false;  ///< get() has seen the stored exception
  bool killed = false;          ///< ended by fiber_killed
  std::uint32_t refs = 0;
  std::uint64_t id = 0;
  std::size_t stack_size = 0;  ///< usable bytes requested
  stack_mapping stack;
  std::string name;
  std::exception_ptr error;
  wait_queue joiners{"the fiber being joined"};
  /// What a wake_reason::abandoned names: the wait_queue owner destroyed while this fiber
  /// waited on it (a static string).
  const char* abandoned_by = nullptr;
  /// The deadline of the current suspension.
  struct deadline_timer : timer_node {
    fiber_base* owner;
  } deadline;
  scoped_timeout* timeouts = nullptr;   ///< innermost active grove::timeout scope
  std::uint32_t expired_timeouts = 0;   ///< active scopes whose deadline passed
  std::uint32_t shield_depth = 0;       ///< active grove::shield scopes
  /// pthread locks this fiber holds, as counted by whoever interposes them (the shims, under
  /// GROVE_CHECK_LOCKS); the core never changes it. Read by the suspension hook's check.
  std::uint32_t locks_held = 0;
  fiber_local_slots* locals = nullptr;  ///< grove::fiber_local values (created on first use)
};

/// Adds a reference.
inline void retain(fiber_base* f) noexcept { ++f->refs; }
/// Drops a reference; the last one destroys the block (and reports an unobserved exception).
void release(fiber_base* f) noexcept;

/// Registers `f` (freshly allocated, refs == 0) with the current hub and schedules it to start
/// at `start_at` (now if no_deadline). Throws grove::error outside grove::run, stack_error when
/// stacks are known not to map.
void launch(fiber_base* f, const spawn_options& options, time_point start_at);

/// Waits until `f` has finished (throws on the caller's own kill / timeout).
void join(fiber_base* f);
/// Like join() with a deadline; false if it passed first.
bool join_until(fiber_base* f, time_point deadline);
/// Kills `f` (see fiber<T>::kill()).
void kill(fiber_base* f) noexcept;
/// Rethrows the stored exception (marking it observed) or throws killed_error.
void rethrow_if_failed(fiber_base* f);

/// The fiber's result slot: T, or nothing for void.
template <class T>
struct fiber_result : fiber_base {
  void drop_result() noexcept override {
    value.reset();
    error = nullptr;
  }
  std::optional<T> value;
};
template <>
struct fiber_result<void> : fiber_base {};

/// A fiber running `Fn`, a nullary callable returning T. The callable is destroyed as soon as
/// it returns, on the fiber's own stack, so captured resources do not outlive the fiber (a fiber
/// killed before it started destroys it there too, without running it: discard_body).
template <class T, class Fn>
struct fiber_impl final : fiber_result<T> {
  explicit fiber_impl(Fn&& fn) : fn(std::move(fn)) {}
  void discard_body() noexcept override { fn.reset(); }
  void run_body() override {
    struct reset_on_exit {
      std::optional<Fn>& fn;
      ~reset_on_exit() { fn.reset(); }
    } guard{fn};
    if constexpr (std::is_void_v<T>) {
      (*fn)();
    } else {
      this->value.emplace((*fn)());
    }
  }
  std::optional<Fn> fn;
};

}  // namespace grove::detail
