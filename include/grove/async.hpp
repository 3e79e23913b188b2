// grove's waits as Asio asynchronous operations, for code that is not a fiber: C++20
// coroutines (asio::awaitable) and callbacks running on the hub. Any completion token works:
// asio::use_awaitable, a callback, grove::use_fiber, asio::deferred...
//
// Example (a coroutine waits for a fiber, an event and a channel on the same hub):
//   asio::awaitable<void> watcher(grove::fiber<int> worker, grove::event& ready,
//                                 grove::channel<std::string>& lines) {
//     co_await grove::async_wait(ready, asio::use_awaitable);
//     int answer = co_await grove::async_get(worker, asio::use_awaitable);
//     std::optional<std::string> line = co_await grove::async_run(
//         [&] { return lines.receive(); }, asio::use_awaitable);
//   }
//   grove::run([&] {
//     asio::co_spawn(grove::hub::current().io_context(), watcher(...), asio::detached);
//     ...
//   });
//
// How: the wait runs in a small helper fiber (a grove wait needs a stack to suspend), which
// completes the handler through the handler's executor when it is done, never on its own stack.
// So every grove wait (join, event, future, queue, channel, semaphore, ...) is available without
// a second wait mechanism. Cancelling the operation (its cancellation slot: a coroutine's
// cancellation, asio::cancel_after...) kills the helper fiber; the operation then completes with
// boost::asio::error::operation_aborted, like an Asio operation. Cost: a fiber spawn per wait
// (stacks are pooled).
#pragma once

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>
#include <exception>
#include <grove/detail/awaitable.hpp>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/wait.hpp>
#include <type_traits>
#include <utility>

namespace grove {

namespace detail {

/// The completion signature of async_run(fn): the exception, then fn's result if any.
template <class R>
struct async_run_signature {
  using type = void(std::exception_ptr, R);
};
template <>
struct async_run_signature<void> {
  using type = void(std::exception_ptr);
};

/// Kills the helper fiber when its operation is cancelled.
struct kill_helper_on_cancel {
  fiber<void> helper;
  void operator()(boost::asio::cancellation_type_t type) {
    if (type != boost::asio::cancellation_type::none) helper.kill();
  }
};

struct initiate_async_run {
  template <class Handler, class Fn>
  void operator()(Handler&& handler, Fn&& fn) const {
    using R = std::invoke_result_t<std::decay_t<Fn>&>;
    static_assert(std::is_void_v<R> || std::is_default_constructible_v<R>,
                  "grove::async_run: the result must be default-constructible (it is left "
                  "default-constructed when fn throws), or wrap it in std::optional");
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto helper = grove::spawn(
        {.name = "grove::async_run"},
        [handler = std::forward<Handler>(handler), fn = std::forward<Fn>(fn), slot]() mutable {
          std::exception_ptr failure;
          std::conditional_t<std::is_void_v<R>, char, R> value{};
          try {
            if constexpr (std::is_void_v<R>) {
              fn();
            } else {
              value = fn();
            }
          } catch (const fiber_killed&) {
            // Cancelled through the slot, or the hub is shutting down: report it the way a
            // cancelled Asio operation does, and let the helper end.
            failure = std::make_exception_ptr(
                boost::system::system_error(boost::asio::error::operation_aborted));
          } catch (...) {
            failure = std::current_exception();
          }
          if (slot.is_connected()) slot.clear();
          // Never run the handler on this stack: a coroutine resumed here would live on a
          // fiber that is about to end. post() runs it through its associated executor.
          auto& io = hub::current().io_context();
          if constexpr (std::is_void_v<R>) {
            boost::asio::post(io, boost::asio::append(std::move(handler), failure));
          } else {
            boost::asio::post(io,
                              boost::asio::append(std::move(handler), failure, std::move(value)));
          }
        });
    if (slot.is_connected()) {
      slot.template emplace<kill_helper_on_cancel>(std::move(helper));
    }
  }
};

}  // namespace detail

/// Runs `fn()` in a new fiber and completes with its outcome: `void(std::exception_ptr, R)`, or
/// `void(std::exception_ptr)` when fn returns void. fn may wait like any fiber.
template <class Fn, class CompletionToken>
auto async_run(Fn&& fn, CompletionToken&& token) {
  using R = std::invoke_result_t<std::decay_t<Fn>&>;
  using signature = typename detail::async_run_signature<R>::type;
  return boost::asio::async_initiate<CompletionToken, signature>(detail::initiate_async_run{},
                                                                 token, std::forward<Fn>(fn));
}

/// Completes when `f` has finished (returned, thrown or been killed): `void(std::exception_ptr)`,
/// which carries only a cancellation of this wait, never f's own exception.
template <class T, class CompletionToken>
auto async_join(fiber<T> f, CompletionToken&& token) {
  return async_run([f]() mutable { f.join(); }, std::forward<CompletionToken>(token));
}

/// Completes with `f`'s value: `void(std::exception_ptr, T)` (`void(std::exception_ptr)` for
/// fiber<void>); the exception is f's own, or grove::killed_error if f was killed.
template <class T, class CompletionToken>
auto async_get(fiber<T> f, CompletionToken&& token) {
  return async_run([f]() mutable -> T { return f.get(); }, std::forward<CompletionToken>(token));
}

/// Completes when `source` is ready: anything grove::wait_any accepts (an event, a future, a
/// fiber). `void(std::exception_ptr)`; `source` must outlive the operation.
template <detail::awaitable_source W, class CompletionToken>
auto async_wait(W& source, CompletionToken&& token) {
  return async_run([&source] { grove::wait_any(source); }, std::forward<CompletionToken>(token));
}

}  // namespace grove
