// Fibers: spawn a function on its own stack and get a handle to join, kill or read its result.
//
// Example:
//   grove::run([] {
//     auto a = grove::spawn([] { grove::this_fiber::sleep_for(100ms); return 1; });
//     auto b = grove::spawn({.name = "b", .stack_size = 64 * 1024}, [](int x) { return x; }, 2);
//     return a.get() + b.get();  // 3, after ~100 ms
//   });
//
// A fiber starts running the next time the spawner suspends (spawn never switches). Dropping
// every handle detaches the fiber: it runs to completion, and an exception escaping it is
// reported on stderr (as gevent prints a greenlet's traceback). Handles are cheap to copy and
// belong to the thread of the hub that spawned the fiber. Stacks are mapped when a fiber first
// runs, so fibers that have not started yet cost only their control block (~300 bytes).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <grove/detail/deadline.hpp>
#include <grove/detail/fiber_base.hpp>
#include <grove/detail/yield.hpp>
#include <grove/error.hpp>

namespace grove {

/// Default usable stack size of a fiber (guard page not included). Only touched pages cost RSS.
inline constexpr std::size_t default_stack_size = 256 * 1024;

/// Options for spawn(): `grove::spawn({.name = "worker", .stack_size = 64 * 1024}, fn)`.
struct spawn_options {
  std::string name;                            ///< shown in reports and overflow messages
  std::size_t stack_size = default_stack_size;  ///< usable bytes; rounded up to whole pages
  /// Where the options were written (leave it defaulted): the spawn site grove::dump_fibers
  /// shows for `spawn(options, fn, args...)`, where no defaulted parameter can follow the pack.
  std::source_location where = std::source_location::current();
};

/// A handle to a fiber producing T. Copyable; an empty handle is `!valid()`.
template <class T>
class fiber {
 public:
  fiber() noexcept = default;
  /// Adopts a control block (used by spawn).
  explicit fiber(detail::fiber_result<T>* block) noexcept : block_(block) { detail::retain(block_); }
  fiber(const fiber& other) noexcept : block_(other.block_) {
    if (block_) detail::retain(block_);
  }
  fiber(fiber&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  fiber& operator=(fiber other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~fiber() {
    if (block_) detail::release(block_);
  }

  /// True if the handle refers to a fiber.
  bool valid() const noexcept { return block_ != nullptr; }
  /// True once the fiber has finished (returned, thrown or been killed); false if empty.
  bool ready() const noexcept {
    return block_ && block_->state == detail::fiber_state::finished;
  }
  /// Waits until the fiber finishes; never throws the fiber's own exception.
  void join(std::source_location where = std::source_location::current()) const {
    detail::call_site site(where);
    detail::join(checked());
  }
  /// Waits at most `d`; true if the fiber finished.
  template <class Rep, class Period>
  bool join_for(std::chrono::duration<Rep, Period> d,
                std::source_location where = std::source_location::current()) const {
    detail::call_site site(where);
    return detail::join_until(checked(), detail::deadline_after(d));
  }
  /// Waits, then returns the value (a copy if T is copyable, else moved out: call once) or
  /// rethrows the fiber's exception; throws killed_error if the fiber was killed.
  T get(std::source_location where = std::source_location::current()) const {
    checked();
    join(where);
    detail::rethrow_if_failed(block_);
    if constexpr (!std::is_void_v<T>) {
      if constexpr (std::is_copy_constructible_v<T>) {
        return *block_->value;
      } else {
        return std::move(*block_->value);
      }
    }
  }
  /// Raises grove::fiber_killed in the fiber at its current or next suspension point (a fiber
  /// that has not started never runs). Does not wait: join() afterwards. No-op once finished.
  void kill() const noexcept { detail::kill(block_); }
  /// Unique id of the fiber (process-wide); 0 for an empty handle.
  std::uint64_t id() const noexcept { return block_ ? block_->id : 0; }
  /// The name given in spawn_options (may be empty).
  std::string_view name() const noexcept { return block_ ? block_->name() : std::string_view(); }
  /// The control block, for grove's own multi-waits and groups (detail API; may be nullptr).
  detail::fiber_base* control_block() const noexcept { return block_; }

 private:
  detail::fiber_result<T>* checked() const {
    if (!block_) throw error("grove: this fiber handle is empty");
    return block_;
  }
  detail::fiber_result<T>* block_ = nullptr;
};

namespace detail {
template <class Fn, class... Args>
using spawn_result_t = std::invoke_result_t<std::decay_t<Fn>, std::decay_t<Args>...>;

template <class Fn, class... Args>
auto make_fiber(const spawn_options& options, time_point start_at, std::source_location where,
                Fn&& fn, Args&&... args) {
  using T = spawn_result_t<Fn, Args...>;
  auto bound = [fn = std::forward<Fn>(fn), ... args = std::forward<Args>(args)]() mutable -> T {
    return std::invoke(std::move(fn), std::move(args)...);
  };
  auto* block = new fiber_impl<T, decltype(bound)>(std::move(bound));
  fiber<T> handle(block);
  block->spawned_at = where;  // until the fiber starts (see fiber_base::spawned_at)
  launch(block, options, start_at);
  return handle;
}
template <class T>
inline constexpr bool is_spawn_options_v = std::is_same_v<std::decay_t<T>, spawn_options>;
}  // namespace detail

// The spawn site grove::dump_fibers shows comes from a defaulted std::source_location, which
// cannot follow a parameter pack. So: spawn(fn) and spawn(options, fn) take one; spawn(options,
// fn, args...) reads the one spawn_options records where it is written; spawn(fn, args...) has
// an overload for one to three arguments that takes one, and the pack form beyond (those fibers
// show no spawn site). The fixed forms are the more specialised templates, so they win.

/// Starts `fn()` in a new fiber on the current hub.
template <class Fn>
  requires(!detail::is_spawn_options_v<Fn>)
auto spawn(Fn&& fn, std::source_location where = std::source_location::current()) {
  static const spawn_options defaults{};
  return detail::make_fiber(defaults, detail::no_deadline, where, std::forward<Fn>(fn));
}

/// Starts `fn(a)` in a new fiber on the current hub; `a` is copied/moved in.
template <class Fn, class A>
  requires(!detail::is_spawn_options_v<Fn>)
auto spawn(Fn&& fn, A&& a, std::source_location where = std::source_location::current()) {
  static const spawn_options defaults{};
  return detail::make_fiber(defaults, detail::no_deadline, where, std::forward<Fn>(fn),
                            std::forward<A>(a));
}

/// Starts `fn(a, b)` in a new fiber on the current hub; the arguments are copied/moved in.
template <class Fn, class A, class B>
  requires(!detail::is_spawn_options_v<Fn>)
auto spawn(Fn&& fn, A&& a, B&& b, std::source_location where = std::source_location::current()) {
  static const spawn_options defaults{};
  return detail::make_fiber(defaults, detail::no_deadline, where, std::forward<Fn>(fn),
                            std::forward<A>(a), std::forward<B>(b));
}

/// Starts `fn(a, b, c)` in a new fiber on the current hub; the arguments are copied/moved in.
template <class Fn, class A, class B, class C>
  requires(!detail::is_spawn_options_v<Fn>)
auto spawn(Fn&& fn, A&& a, B&& b, C&& c,
           std::source_location where = std::source_location::current()) {
  static const spawn_options defaults{};
  return detail::make_fiber(defaults, detail::no_deadline, where, std::forward<Fn>(fn),
                            std::forward<A>(a), std::forward<B>(b), std::forward<C>(c));
}

/// Starts `fn(args...)` in a new fiber on the current hub; args are copied/moved in.
template <class Fn, class... Args>
  requires(!detail::is_spawn_options_v<Fn>)
auto spawn(Fn&& fn, Args&&... args) {
  static const spawn_options defaults{};
  return detail::make_fiber(defaults, detail::no_deadline, std::source_location(),
                            std::forward<Fn>(fn), std::forward<Args>(args)...);
}

/// Starts `fn()` in a new fiber with a name and/or stack size.
template <class Fn>
auto spawn(const spawn_options& options, Fn&& fn,
           std::source_location where = std::source_location::current()) {
  return detail::make_fiber(options, detail::no_deadline, where, std::forward<Fn>(fn));
}

/// Starts `fn(args...)` in a new fiber with a name and/or stack size.
template <class Fn, class... Args>
auto spawn(const spawn_options& options, Fn&& fn, Args&&... args) {
  return detail::make_fiber(options, detail::no_deadline, options.where, std::forward<Fn>(fn),
                            std::forward<Args>(args)...);
}

/// Starts `fn()` in a new fiber once `delay` has passed.
template <class Rep, class Period, class Fn>
  requires(!detail::is_spawn_options_v<Fn>)
auto spawn_later(std::chrono::duration<Rep, Period> delay, Fn&& fn,
                 std::source_location where = std::source_location::current()) {
  static const spawn_options defaults{};
  return detail::make_fiber(defaults, detail::deadline_after(delay), where, std::forward<Fn>(fn));
}

/// Starts `fn(args...)` in a new fiber once `delay` has passed.
template <class Rep, class Period, class Fn, class... Args>
  requires(!detail::is_spawn_options_v<Fn>)
auto spawn_later(std::chrono::duration<Rep, Period> delay, Fn&& fn, Args&&... args) {
  static const spawn_options defaults{};
  return detail::make_fiber(defaults, detail::deadline_after(delay), std::source_location(),
                            std::forward<Fn>(fn), std::forward<Args>(args)...);
}

/// Starts `fn()` in a new fiber with a name and/or stack size once `delay` has passed.
template <class Rep, class Period, class Fn>
auto spawn_later(std::chrono::duration<Rep, Period> delay, const spawn_options& options, Fn&& fn,
                 std::source_location where = std::source_location::current()) {
  return detail::make_fiber(options, detail::deadline_after(delay), where, std::forward<Fn>(fn));
}

/// Starts `fn(args...)` in a new fiber with a name and/or stack size once `delay` has passed.
template <class Rep, class Period, class Fn, class... Args>
auto spawn_later(std::chrono::duration<Rep, Period> delay, const spawn_options& options, Fn&& fn,
                 Args&&... args) {
  return detail::make_fiber(options, detail::deadline_after(delay), options.where,
                            std::forward<Fn>(fn), std::forward<Args>(args)...);
}

namespace this_fiber {

/// Lets every other ready fiber run once, then continues (raises fiber_killed if killed).
inline void yield() { detail::yield_inline(); }

/// Suspends the calling fiber until `t`; a past time point yields.
template <class Duration>
void sleep_until(std::chrono::time_point<std::chrono::steady_clock, Duration> t,
                 std::source_location where = std::source_location::current()) {
  detail::call_site site(where);
  auto deadline = std::chrono::time_point_cast<detail::clock::duration>(t);
  if (deadline <= detail::clock::now()) {
    detail::yield();
    return;
  }
  while (detail::suspend(deadline, {detail::wait_kind::sleep, 0}) != detail::wake_reason::deadline) {
  }
}

/// Suspends the calling fiber for `d`; zero or negative yields to every other ready fiber.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d,
               std::source_location where = std::source_location::current()) {
  if (d <= d.zero()) {
    detail::yield();
    return;
  }
  detail::call_site site(where);
  detail::time_point deadline = detail::deadline_after(d);
  while (detail::suspend(deadline, {detail::wait_kind::sleep, 0}) != detail::wake_reason::deadline) {
  }
}

/// While alive, kills and scoped timeouts do not interrupt the calling fiber's waits: they stay
/// pending and are raised at the first wait after the last shield ends. Put one around waits in
/// destructors (a join guard, a graceful close), where an exception would terminate the program.
/// A fiber that is unwinding is shielded anyway.
class shield {
 public:
  /// Shields the calling fiber (no effect outside a fiber).
  shield() noexcept : fiber_(detail::current_fiber()) {
    if (fiber_) ++fiber_->shield_depth;
  }
  ~shield() {
    if (fiber_) --fiber_->shield_depth;
  }
  shield(const shield&) = delete;
  shield& operator=(const shield&) = delete;

 private:
  detail::fiber_base* fiber_;
};

/// Id of the calling fiber (0 outside a fiber).
std::uint64_t id() noexcept;
/// Name of the calling fiber (empty outside a fiber).
std::string_view name() noexcept;

}  // namespace this_fiber
}  // namespace grove
