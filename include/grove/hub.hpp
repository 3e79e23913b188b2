// The hub: one per thread, it schedules fibers over a Boost.Asio io_context (I/O readiness,
// timers, callbacks). grove::run() creates it, runs a main fiber, and tears it down.
//
// Example (the talk's callback style, no fibers involved):
//   grove::run([] {
//     auto& hub = grove::hub::current();
//     hub.call_later(3s, [] { std::puts("World!"); });
//     std::puts("Hello, wait three seconds,");
//     grove::this_fiber::sleep_for(3s);  // keep the main fiber alive until the callback ran
//   });
//
// Callbacks run on the hub's own stack, between fibers: they may spawn fibers, set events or
// arm more callbacks, but must not block (a grove wait there throws grove::error). An exception
// escaping a callback is reported on stderr and does not stop the hub.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include <grove/detail/deadline.hpp>
#include <grove/detail/suspension.hpp>
#include <grove/fiber.hpp>

namespace boost::asio {
class io_context;
}

namespace grove {

namespace detail {
struct callback_node;
}
class hub_ref;

/// Handle to a callback armed with call_soon / call_later; lets you cancel it.
class callback_handle {
 public:
  callback_handle() noexcept = default;
  explicit callback_handle(detail::callback_node* node) noexcept;
  callback_handle(const callback_handle& other) noexcept;
  callback_handle(callback_handle&& other) noexcept;
  callback_handle& operator=(callback_handle other) noexcept;
  ~callback_handle();

  /// Prevents the callback from running if it has not run yet; true if it was still pending.
  bool cancel() noexcept;
  /// True while the callback has neither run nor been cancelled.
  bool pending() const noexcept;

 private:
  detail::callback_node* node_ = nullptr;
};

/// The scheduler of the current thread. Not copyable; reach it with hub::current().
class hub {
 public:
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  /// The hub running on this thread; throws grove::error outside grove::run.
  static hub& current();
  /// True if a hub is running on this thread.
  static bool running() noexcept;

  /// Runs `fn` on the hub soon (after the fibers ready now), in FIFO order with other callbacks.
  callback_handle call_soon(std::function<void()> fn);
  /// Runs `fn` on the hub once `delay` has passed (a huge delay saturates: never).
  template <class Rep, class Period>
  callback_handle call_later(std::chrono::duration<Rep, Period> delay, std::function<void()> fn) {
    return call_after(detail::saturating_ticks(delay), std::move(fn));
  }
  /// The io_context the hub polls: for Asio objects whose completions should wake fibers.
  boost::asio::io_context& io_context() noexcept;
  /// Number of fibers that have started or are scheduled and not yet finished.
  std::size_t fiber_count() const noexcept;
  /// A thread-safe handle other threads use to post work or start fibers here
  /// (<grove/hub_ref.hpp>).
  hub_ref ref() const;

 private:
  friend class detail::hub_impl;
  explicit hub(detail::hub_impl* impl) noexcept : impl_(impl) {}
  callback_handle call_after(detail::clock::duration delay, std::function<void()> fn);
  detail::hub_impl* impl_;
};

/// Runs `fn` on the hub soon; see hub::call_soon.
callback_handle call_soon(std::function<void()> fn);
/// Runs `fn` on the hub after `delay`; see hub::call_later.
template <class Rep, class Period>
callback_handle call_later(std::chrono::duration<Rep, Period> delay, std::function<void()> fn) {
  return hub::current().call_later(delay, std::move(fn));
}

namespace detail {
/// Runs `main` as the main fiber of a new hub on this thread; returns when it has finished and
/// the other fibers have been killed and unwound. Rethrows the main fiber's exception.
void run_hub(fiber_base* main);
}  // namespace detail

/// Starts a hub on this thread, runs `fn` as its main fiber and returns fn's result (or
/// rethrows its exception). Fibers still running when fn returns are killed and unwound first.
/// Throws grove::error if a hub is already running on this thread.
template <class Fn>
auto run(Fn&& fn) -> std::invoke_result_t<std::decay_t<Fn>> {
  using T = std::invoke_result_t<std::decay_t<Fn>>;
  auto bound = [fn = std::forward<Fn>(fn)]() mutable -> T { return std::invoke(std::move(fn)); };
  auto* block = new detail::fiber_impl<T, decltype(bound)>(std::move(bound));
  block->set_name("main");
  fiber<T> handle(block);
  detail::run_hub(block);
  return handle.get();
}

}  // namespace grove
