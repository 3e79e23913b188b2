// What every shim (shims/<family>.cpp) is built from: the real libc function it replaces, the
// predicate that decides whether a call cooperates with the hub, and the errno a kill or a
// scoped timeout becomes inside a C frame.
//
// Example (the shape of every shim):
//   namespace { grove::shims::real_function<unsigned(unsigned)> real_sleep{"sleep", &raw_sleep}; }
//   GROVE_SHIM_EXPORT unsigned sleep(unsigned seconds) {
//     if (!grove::shims::cooperating_fiber()) return real_sleep(seconds);  // plain libc
//     ... wait on the hub (detail::suspend_noexcept), report a kill / timeout through errno ...
//   }
//
// Resolution: a real function is found with dlsym(RTLD_NEXT) on its first call and cached in an
// atomic pointer (relaxed: every thread resolving it stores the same value). Nothing runs at load
// time, so a shim works before main, inside another library's constructor, and before this
// library's own constructors. glibc's dlsym may call malloc/calloc (its dlerror buffer), and a
// malloc replacement (jemalloc, a sanitizer, a user's hook) may call back into a shim (read,
// close, nanosleep...) while dlsym is running on this thread: that nested call must not call
// dlsym again (it would recurse, or deadlock on the loader's lock in some versions), so it gets
// the `fallback` instead — a raw syscall for the syscall-shaped functions — and caches nothing.
//
// Cooperation: a call cooperates only when it comes from a fiber on a thread whose hub is running
// (grove::detail::current_fiber()), and the shims are enabled (GROVE_SHIMS is not "0", read once;
// a forked child turns them off). Outside any hub the passthrough costs one thread-local load
// (detail::t_hub) and the tail jump to libc; on a hub's thread a relaxed load and a call into
// libgrove (current_fiber) more. Keep each exported function a predicate and a tail call with
// the cooperative half out of line (shims/sleep.cpp): the passthrough then needs no frame.
#pragma once

#include <atomic>
#include <cerrno>
#include <grove/detail/fd_table.hpp>  // detail::t_hub, read inline
#include <grove/detail/fiber_base.hpp>
#include <grove/detail/suspension.hpp>
#include <utility>

/// Marks an interposed C function: exported with default visibility (everything else in
/// libgrove_shims.so is hidden, so the library only ever overrides what it means to).
#define GROVE_SHIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace grove::shims {

// --- Resolution of the real functions -------------------------------------------------------

/// dlsym(RTLD_NEXT, name): the definition after libgrove_shims in the lookup order (libc's).
/// Returns nullptr if there is none, or if this thread is already inside resolve_next() (a
/// malloc replacement calling a shim from inside dlsym): see the header comment.
void* resolve_next(const char* name) noexcept;

/// A function pointer resolved once by name, through resolve_next(); the shared half of
/// real_function. Constant-initialised, so usable before any constructor has run.
template <class Pointer>
class resolved_symbol {
 public:
  using pointer = Pointer;
  /// `fallback` is called while the real function cannot be resolved: when dlsym is running
  /// on this thread, or when no later library defines `name`.
  constexpr resolved_symbol(const char* name, pointer fallback) noexcept
      : name_(name), fallback_(fallback) {}
  resolved_symbol(const resolved_symbol&) = delete;
  resolved_symbol& operator=(const resolved_symbol&) = delete;

  /// The real function (or the fallback while it cannot be resolved).
  pointer get() noexcept {
    pointer p = fn_.load(std::memory_order_relaxed);
    if (p) [[likely]]
      return p;
    return resolve();
  }

 private:
  [[gnu::noinline, gnu::cold]] pointer resolve() noexcept {
    if (void* found = resolve_next(name_)) {
      auto p = reinterpret_cast<pointer>(found);
      fn_.store(p, std::memory_order_relaxed);
      return p;
    }
    return fallback_;
  }
  const char* name_;
  pointer fallback_;
  std::atomic<pointer> fn_{nullptr};
};

template <class Signature>
class real_function;

/// A libc function the shims replace, resolved once. Constant-initialised (declare it
/// `constinit` at namespace scope), so it is usable before any constructor has run.
template <class R, class... Args>
class real_function<R(Args...)> : public resolved_symbol<R (*)(Args...)> {
 public:
  using resolved_symbol<R (*)(Args...)>::resolved_symbol;
  /// Calls the real function.
  R operator()(Args... args) noexcept { return this->get()(args...); }
};

/// The same for a C variadic function (fcntl, ioctl, open): call it as `real_fcntl(fd, cmd, arg)`.
template <class R, class... Args>
class real_function<R(Args..., ...)> : public resolved_symbol<R (*)(Args..., ...)> {
 public:
  using resolved_symbol<R (*)(Args..., ...)>::resolved_symbol;
  /// Calls the real function with `args` and the variadic `rest`.
  template <class... Rest>
  R operator()(Args... args, Rest... rest) noexcept {
    return this->get()(args..., rest...);
  }
};

// --- Should this call cooperate? ------------------------------------------------------------

/// The shims' run-time switch: unknown until first read, then on or off.
enum class mode : int { unknown = 0, on = 1, off = 2 };
extern std::atomic<mode> current_mode;
/// Reads GROVE_SHIMS (once) and returns the mode it selects.
mode read_mode() noexcept;

/// True unless GROVE_SHIMS=0 or this process is the child of a fork().
inline bool enabled() noexcept {
  mode m = current_mode.load(std::memory_order_relaxed);
  if (m == mode::unknown) [[unlikely]]
    m = read_mode();
  return m == mode::on;
}

/// The fiber a shimmed call should cooperate for, or nullptr when the call must be libc's:
/// outside fibers (no hub, hub callbacks, other threads, the offload pool), and when the shims
/// are disabled.
inline detail::fiber_base* cooperating_fiber() noexcept {
  if (!detail::t_hub) [[likely]]
    return nullptr;  // no hub on this thread: decided with one thread-local load
  if (!enabled()) [[unlikely]]
    return nullptr;
  return detail::current_fiber();
}

/// True if the calling code runs in a fiber and the shims are enabled (see cooperating_fiber).
inline bool should_cooperate() noexcept { return cooperating_fiber() != nullptr; }

// --- Waiting inside a C frame ---------------------------------------------------------------

/// The errno a shimmed call reports when its wait ended for `reason`: the core's rule
/// (detail::errno_for): ECANCELED for a kill, ETIMEDOUT for an expired grove::timeout scope,
/// EDEADLK when nothing could ever wake it; 0 for notified / deadline. Never EINTR: C libraries
/// retry EINTR in a loop. The kill or timeout itself stays pending for the next grove wait.
inline int interruption_errno(detail::wake_reason reason) noexcept {
  return detail::errno_for(reason);
}

/// Lets the other ready fibers run once (a zero-length sleep). Never throws: returns the reason
/// a pending kill / timeout gives (wake_reason::killed / timeout), else wake_reason::deadline.
detail::wake_reason yield_noexcept() noexcept;

/// Suspends the calling fiber until `deadline` (a past one yields once). Never throws: returns
/// wake_reason::deadline when it passed, or the reason of an interruption (killed, timeout).
/// For every timed wait of a shim: the sleep family, poll(nullptr, 0, ms), polling loops.
detail::wake_reason sleep_until(detail::time_point deadline) noexcept;

/// The errno for the exception being handled (see errno_of).
int errno_for_current_exception() noexcept;

/// Runs `fn()`, a grove wait that reports kills and timeouts by throwing (grove::offload, an
/// fd_registration), and returns 0, or the errno for what it threw: ECANCELED for a kill,
/// ETIMEDOUT for a scoped timeout, ENOMEM, else EIO. Exceptions never leave a shim.
template <class Fn>
int errno_of(Fn&& fn) noexcept {
  try {
    fn();
    return 0;
  } catch (...) {
    return errno_for_current_exception();
  }
}
/// Keeps errno across a region that suspends (the hub and other fibers overwrite it).
class errno_guard {
 public:
  errno_guard() noexcept : saved_(errno) {}
  ~errno_guard() { errno = saved_; }
  errno_guard(const errno_guard&) = delete;
  errno_guard& operator=(const errno_guard&) = delete;
  /// Makes the region end with errno `value` instead of the saved one.
  void set(int value) noexcept { saved_ = value; }

 private:
  int saved_;
};

}  // namespace grove::shims
