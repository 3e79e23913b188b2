// grove::promise<T> / grove::future<T>: a value or an exception delivered once to any number of
// waiting fibers (gevent's AsyncResult).
//
// Example:
//   grove::promise<int> answer;
//   grove::future<int> result = answer.get_future();     // copies share the same result
//   auto reader = grove::spawn([result] { return result.get() * 2; });  // waits
//   answer.set_value(21);                                 // wakes every waiter
//   reader.get();                                         // 42
//
// The result is set once: a second set_value / set_exception throws grove::error. Destroying
// a promise that was never set stores grove::broken_promise, so waiters are not left hanging.
// future::get() returns a reference to the shared value (valid while a future or the promise
// holds the state) or rethrows the stored exception, as often as asked. Setting may be done
// from a hub callback. Waits honour kill() and grove::timeout. A future is usable with
// grove::wait_all / grove::wait_any. Both belong to the hub that made the promise, unless it
// was made with grove::cross_thread then any fiber of any hub and any plain
// thread may set and wait (a thread blocks like std::future::wait; see <grove/cross_thread.hpp>).
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <grove/cross_thread.hpp>
#include <grove/detail/awaitable.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/error.hpp>

namespace grove {

/// Stored in a future whose promise was destroyed before it was set.
class broken_promise : public error {
 public:
  using error::error;
};

template <class T>
class future;

namespace detail {

/// The type-independent half of a future's shared state (lib/sync/future.cpp).
struct future_state_base {
  future_state_base() noexcept = default;
  explicit future_state_base(cross_thread_t tag) noexcept : owner(tag) {}

  sync_owner owner;
  wait_queue waiters{wait_kind::future};
  std::exception_ptr exception;
  /// Read without the lock by ready(); the value it publishes is written before it (release).
  std::atomic<bool> ready{false};

  /// Runs `store` (writing the value or exception) and publishes it, waking every waiter;
  /// throws grove::error if the result was already set.
  template <class Store>
  void set(Store&& store) {
    sync_guard guard(owner);
    check_unset();
    store();
    publish();
  }
  /// Throws grove::error if the result is already set.
  void check_unset() const;
  /// Marks the result set and wakes every waiter (lock held when shared).
  void publish() noexcept;
  /// Waits until set or `deadline`; true if set.
  bool wait_until(time_point deadline);
  /// Waits, then rethrows the stored exception if there is one.
  void get();
  /// Stores broken_promise if the result was never set.
  void abandon() noexcept;
};

template <class T>
struct future_state : future_state_base {
  using future_state_base::future_state_base;
  std::optional<T> value;
};
template <>
struct future_state<void> : future_state_base {
  using future_state_base::future_state_base;
};

}  // namespace detail

/// The writing side: sets the result once.
template <class T>
class promise {
  static_assert(!std::is_reference_v<T>,
                "grove::promise<T&>: use a pointer or std::reference_wrapper");

 public:
  /// A promise with a fresh, unset result.
  promise() : state_(std::make_shared<detail::future_state<T>>()) {}
  /// A promise whose future may be set and waited on from any thread.
  explicit promise(cross_thread_t tag) : state_(std::make_shared<detail::future_state<T>>(tag)) {}
  promise(promise&&) noexcept = default;
  /// Abandons the current result (see the destructor) and takes over `other`'s.
  promise& operator=(promise&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  promise(const promise&) = delete;
  promise& operator=(const promise&) = delete;
  /// Stores grove::broken_promise if the result was never set, waking the waiters.
  ~promise() { abandon(); }

  /// A future reading this promise's result (call as often as needed).
  future<T> get_future() const { return future<T>(state_); }

  /// Sets the value and wakes every waiter; throws grove::error if already set.
  template <class... Args>
  void set_value(Args&&... args) {
    state_->set([&] {
      if constexpr (!std::is_void_v<T>) state_->value.emplace(std::forward<Args>(args)...);
    });
  }
  /// Sets an exception that get() rethrows; throws grove::error if already set.
  void set_exception(std::exception_ptr error) {
    state_->set([&] { state_->exception = std::move(error); });
  }
  /// True once the result is set.
  bool ready() const noexcept { return state_ && state_->ready.load(std::memory_order_acquire); }
  /// True unless moved from.
  bool valid() const noexcept { return state_ != nullptr; }

 private:
  void abandon() noexcept {
    if (state_) state_->abandon();
  }
  std::shared_ptr<detail::future_state<T>> state_;
};

/// The reading side: copies share one result; any number of fibers may wait on it.
template <class T>
class future {
 public:
  /// An empty future (!valid()); get one from promise::get_future().
  future() noexcept = default;

  /// True if the future refers to a result.
  bool valid() const noexcept { return state_ != nullptr; }
  /// True once the result is set.
  bool ready() const noexcept { return state_->ready.load(std::memory_order_acquire); }
  /// True once the result is set to an exception.
  bool has_exception() const noexcept { return ready() && state_->exception != nullptr; }

  /// Waits for the result; returns the value (T) or rethrows the stored exception.
  std::conditional_t<std::is_void_v<T>, void, std::add_lvalue_reference_t<const T>> get() const {
    state_->get();
    if constexpr (!std::is_void_v<T>) return *state_->value;
  }
  /// Waits until the result is set.
  void wait() const { state_->wait_until(detail::no_deadline); }
  /// Waits at most `d`; true if the result is set.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    return state_->wait_until(detail::deadline_after(d));
  }
  /// Waits until `t` at the latest; true if the result is set.
  template <class Clock, class Duration>
  bool wait_until(std::chrono::time_point<Clock, Duration> t) const {
    return state_->wait_until(detail::deadline_at(t));
  }

 private:
  friend class promise<T>;
  friend struct detail::awaitable<future<T>>;
  explicit future(std::shared_ptr<detail::future_state<T>> state) noexcept
      : state_(std::move(state)) {}
  std::shared_ptr<detail::future_state<T>> state_;
};

template <class T>
struct detail::awaitable<future<T>> {
  static bool ready(const future<T>& f) noexcept { return f.ready(); }
  static wait_queue* queue(future<T>& f) noexcept { return &f.state_->waiters; }
  static const sync_owner* owner(future<T>& f) noexcept { return &f.state_->owner; }
};

}  // namespace grove
