// Waiting for work done elsewhere: the one way grove waits on operations that complete outside
// the fiber (a reactor operation on a socket, any Asio asynchronous operation, a function on the
// offload pool). It is the cancellable suspension of docs/architecture.md applied to an operation whose
// completion may refer to the waiting fiber's stack.
//
// Example (an Asio timer; sockets and offload do the same with their own operations):
//   boost::asio::steady_timer timer(grove::hub::current().io_context(), 50ms);
//   auto [ec] = grove::detail::await_asio<boost::system::error_code>(
//       [&](auto handler) { timer.async_wait(std::move(handler)); },
//       [&] { timer.cancel(); });
//
// The rule that makes it safe: once started, the operation completes exactly once, and the
// waiter does not leave await_completion() before it has. If the waiter is killed, its scoped
// timeout expires or its deadline passes first, await_completion() calls `cancel()` and waits,
// without interruption, until the completion has run; only then does the frame unwind. An
// operation that completed anyway (the interruption raced it) keeps its result: the kill or
// timeout stays pending and is raised at the fiber's next suspension, so no data is lost.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <grove/detail/suspension.hpp>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace grove::detail {

/// The slot an asynchronous operation completes; lives on the waiting fiber's stack.
/// Hub thread only (operations finishing on other threads post their completion to the hub).
struct completion {
  /// The waiter's current suspension; await_completion() renews it before each suspension, so
  /// the completion can only end a wait for this operation.
  wake_token waiter = next_suspension();
  bool done = false;
  /// Set by the completer when the operation ended because cancel() was called.
  bool cancelled = false;

  /// Marks the operation finished and wakes the waiter.
  void complete(bool was_cancelled = false) noexcept {
    done = true;
    cancelled = was_cancelled;
    wake(waiter, wake_reason::notified);
  }
};

/// Suspends until `c` completes (true) or `deadline` passes and the operation was cancelled
/// (false). On kill / scoped timeout: calls `cancel()`, waits for the completion, then rethrows
/// unless the operation completed anyway. `cancel()` must make the operation complete soon, or
/// complete `c` itself when the operation may be abandoned (its completion then no longer
/// refers to `c`).
template <class Cancel>
bool await_completion(completion& c, time_point deadline, Cancel&& cancel,
                      waiting_on on = {wait_kind::asio, 0}) {
  require_fiber();  // the drain below would otherwise return at once, forever
  auto drain = [&c, on]() noexcept {
    while (!c.done) {
      c.waiter = next_suspension();
      suspend_uninterruptible(no_deadline, on);
    }
  };
  while (!c.done) {
    wake_reason reason;
    try {
      c.waiter = next_suspension();
      reason = suspend(deadline, on);
    } catch (...) {
      if (!c.done) cancel();
      drain();
      if (c.cancelled) throw;
      return true;  // completed anyway: the interruption stays pending for the next wait
    }
    if (reason == wake_reason::deadline && !c.done) {
      cancel();
      drain();
      return !c.cancelled;
    }
  }
  return true;
}

/// Starts an Asio asynchronous operation with `initiate(handler)` and waits for it; returns the
/// handler's arguments. The handler must be called on the hub's io_context (Asio objects built
/// on hub::current().io_context() do so). `cancel()` cancels the operation (for example
/// `timer.cancel()`); after a deadline the result is what the cancelled operation reported
/// (usually boost::asio::error::operation_aborted).
template <class... Args, class Initiate, class Cancel>
std::tuple<Args...> await_asio(Initiate&& initiate, Cancel&& cancel,
                               time_point deadline = no_deadline) {
  require_fiber();  // before the operation starts: nobody could wait for its completion
  completion c;
  std::optional<std::tuple<Args...>> result;
  initiate([&c, &result](Args... args) {
    result.emplace(std::move(args)...);
    bool aborted = false;
    if constexpr (sizeof...(Args) > 0) {
      using first = std::decay_t<std::tuple_element_t<0, std::tuple<Args...>>>;
      if constexpr (std::is_same_v<first, boost::system::error_code>) {
        aborted = std::get<0>(*result) == boost::asio::error::operation_aborted;
      }
    }
    c.complete(aborted);
  });
  await_completion(c, deadline, cancel);
  return std::move(*result);
}

}  // namespace grove::detail
