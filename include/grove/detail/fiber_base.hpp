// The fiber control block, shared by the public fiber<T> handle and the hub.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
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

// TSan builds keep a TSan fiber handle per context (lib/core/sanitizers.hpp); the whole program
// is built with or without TSan, so the layout never differs across the library's boundary.
#if defined(__SANITIZE_THREAD__)
#define GROVE_TSAN_CONTEXT 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GROVE_TSAN_CONTEXT 1
#endif
#endif

/// A place execution can be switched to: a fiber's stack, or the hub loop's (the thread's).
/// Only what a switch needs: the C++ exception state, the sanitizer's fake stack and errno are
/// kept by each context on its own stack across the jump, and the data a jump passes says
/// whether the context that left has finished (see leaving()).
struct execution_context {
  void* fctx = nullptr;         ///< boost::context::detail::fcontext_t of the suspended context
#ifdef GROVE_TSAN_CONTEXT
  void* tsan_fiber = nullptr;   ///< TSan builds only: this context's fiber handle
#endif
  fiber_base* fiber = nullptr;  ///< nullptr for the hub loop
};

/// The datum of a jump away from `from`: its address, the low bit set when it has finished (it
/// will never be resumed: whoever arrives releases its stack).
inline void* leaving(execution_context* from, bool finished) noexcept {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(from) |
                                 static_cast<std::uintptr_t>(finished));
}
/// The context a jump's datum names (see leaving()).
inline execution_context* left_context(void* datum) noexcept {
  return reinterpret_cast<execution_context*>(reinterpret_cast<std::uintptr_t>(datum) &
                                              ~std::uintptr_t{1});
}
/// Whether the context a jump's datum names has finished.
inline bool left_finished(void* datum) noexcept {
  return (reinterpret_cast<std::uintptr_t>(datum) & 1) != 0;
}

enum class fiber_state : std::uint8_t { created, ready, running, suspended, finished };

/// A mapped stack: [base, base + guard) is PROT_NONE, the rest is usable.
struct stack_mapping {
  void* base = nullptr;
  std::size_t size = 0;   ///< whole mapping, guard page included
  std::size_t guard = 0;  ///< guard bytes at the low end
};

/// Guard bytes below every fiber stack (the pool's, lib/core/stack_pool.hpp).
inline constexpr std::size_t stack_guard_bytes = 64 * 1024;

/// What few fibers use, made on first use: keeps the control block of a plain fiber small (a
/// million idle fibers pay for every byte of it).
struct fiber_extras {
  std::string name;
  wait_queue joiners{wait_kind::join};  ///< fibers in join() / wait_any() on this one
  scoped_timeout* timeouts = nullptr;   ///< innermost active grove::timeout scope
  fiber_local_slots* locals = nullptr;  ///< grove::fiber_local values
  /// What a wake_reason::abandoned names: the wait_queue owner destroyed while this fiber
  /// waited on it (a static string).
  const char* abandoned_by = nullptr;
};

/// Control block of one fiber. Reference-counted (not atomically: one hub, one thread) by the
/// handles and, while it has not finished, by the hub. Its own deadline timer is its base, so
/// the timer needs no pointer back; the fields a switch reads come first. Every byte counts (a
/// million idle fibers): the counters are as wide as a fiber can use (65,535 nested
/// grove::timeout / shield scopes), the rarely written flags are bits.
struct fiber_base : private timer_node {
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

  /// The deadline of the current suspension (or, before it starts, of spawn_later's start).
  timer_node& deadline() noexcept { return *this; }
  const timer_node& deadline() const noexcept { return *this; }
  /// The fiber whose deadline() `node` is.
  static fiber_base* of_deadline(timer_node* node) noexcept {
    return static_cast<fiber_base*>(node);
  }

  /// The rarely used part, made now if need be (throws std::bad_alloc).
  fiber_extras& extras();
  /// The rarely used part if it was ever made.
  fiber_extras* extras_if_any() const noexcept { return extras_; }
  /// The fiber's name ("" if none).
  std::string_view name() const noexcept {
    return extras_ ? std::string_view(extras_->name) : std::string_view();
  }
  /// The name as a C string, for reports.
  const char* name_c_str() const noexcept { return extras_ ? extras_->name.c_str() : ""; }
  void set_name(std::string_view name) { extras().name = name; }
  /// grove::fiber_local values, if any.
  fiber_local_slots* locals() const noexcept { return extras_ ? extras_->locals : nullptr; }

  fiber_state state = fiber_state::created;  // these fill the deadline's tail padding
  wake_reason reason = wake_reason::none;
  /// pthread locks this fiber holds (saturating at 255), as counted by whoever interposes them
  /// (the shims, under GROVE_CHECK_LOCKS); the core never changes it. Read by the suspension
  /// hook's check.
  std::uint8_t locks_held = 0;
  bool kill_pending : 1 = false;
  bool interruptible : 1 = true;   ///< false while unwinding: kill/timeout wait for later
  bool error_observed : 1 = false;  ///< get() has seen the stored exception
  bool killed : 1 = false;          ///< ended by fiber_killed
  execution_context ctx;
  fiber_base* next_ready = nullptr;  ///< hub's ready queue
  hub_impl* hub = nullptr;
  std::uint32_t refs = 0;
  std::uint16_t expired_timeouts = 0;  ///< active scopes whose deadline passed
  std::uint16_t shield_depth = 0;      ///< active grove::shield scopes
  /// Usable stack bytes (page-rounded); the mapping is this plus stack_pool::guard_bytes.
  std::size_t stack_size = 0;
  union {
    /// Number of the current suspension (while suspended) or of the next one (while running):
    /// wake tokens carry it, and it moves on when a suspension ends, so stale tokens are refused.
    std::uint64_t suspension = 0;
    /// Before the fiber first runs (no suspension yet, no token can name it): its spawn site.
    /// Starting moves it to the top of the stack, with the wait record (lib/core/hub_impl.hpp,
    /// stack_top), and makes this word `suspension` again; ctx.fctx tells which it is.
    std::source_location spawned_at;
  };
  fiber_base* prev_live = nullptr;  ///< hub's list of unfinished fibers
  fiber_base* next_live = nullptr;
  std::uint64_t id = 0;
  void* stack_base = nullptr;  ///< the stack's mapping (guard first); null until it first runs
  /// Lowest usable stack address (above the guard), or null before the fiber first runs.
  const void* stack_low() const noexcept {
    return stack_base ? static_cast<const char*>(stack_base) + stack_guard_bytes : nullptr;
  }
  std::exception_ptr error;
  // What the fiber waits on and where (grove::dump_fibers) is not here: it sits at the top of
  // the fiber's stack (16 bytes more here would cost every idle fiber a 16-byte larger chunk).

 private:
  fiber_extras* extras_ = nullptr;
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
