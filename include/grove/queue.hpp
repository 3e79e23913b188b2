// Queues between fibers (gevent's Queue, LifoQueue, PriorityQueue and JoinableQueue in one):
// unbounded, or bounded so that put() waits while the queue is full.
//
// Example:
//   grove::queue<std::string> jobs(100);                 // at most 100 waiting items
//   auto worker = grove::spawn([&] {
//     try {
//       for (;;) {
//         handle(jobs.get());                            // waits for an item
//         jobs.task_done();
//       }
//     } catch (const grove::queue_closed&) {}            // closed and drained: done
//   });
//   jobs.put("a");                                       // waits while full
//   jobs.join();                                         // until every item is task_done()
//   jobs.close();
//   worker.join();
//
// Waiters are served first come, first served, and nobody barges: an item put while fibers
// wait in get() goes straight to the oldest of them, and a get() from a full queue moves the
// oldest waiting putter's item in at once. close() refuses new items (put throws queue_closed)
// and wakes every waiter; getters still drain what is left, then get() throws queue_closed.
// Every wait honours kill() and grove::timeout and leaves the queue as if it had not happened.
// A queue belongs to one hub's fibers and callbacks (try_put / try_get may run in callbacks).
// lifo_queue and priority_queue share the implementation and differ only in which item leaves
// first. Not copyable or movable: waiting fibers point into it.
#pragma once

#include <source_location>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <utility>

#include <grove/detail/deadline.hpp>
#include <grove/detail/exchange.hpp>
#include <grove/error.hpp>

namespace grove {

/// Thrown by put on a closed queue, and by get once a closed queue is drained.
class queue_closed : public error {
 public:
  using error::error;
};

namespace detail {
[[noreturn]] void throw_queue_closed(bool putting);
std::size_t checked_queue_capacity(std::size_t capacity);
}  // namespace detail

/// A queue of T between fibers; `Order` decides which item leaves first (see the aliases).
template <class T, class Order>
class basic_queue {
 public:
  /// Capacity of a queue whose put() never waits.
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

  /// A queue holding at most `capacity` items (>= 1; unbounded by default).
  explicit basic_queue(std::size_t capacity = unbounded)
      : core_(detail::checked_queue_capacity(capacity)) {}
  basic_queue(const basic_queue&) = delete;
  basic_queue& operator=(const basic_queue&) = delete;

  /// Adds a copy of `item`, waiting while the queue is full; throws queue_closed if closed.
  void put(const T& item, std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    put_until(detail::offer<T>::copy_of(item), detail::no_deadline);
  }
  /// Adds `item`, waiting while the queue is full; throws queue_closed if closed.
  void put(T&& item, std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    put_until(detail::offer<T>::move_of(item), detail::no_deadline);
  }
  /// Adds a copy of `item` if there is room now; false if full. Throws queue_closed if closed.
  bool try_put(const T& item) {
    return put_until(detail::offer<T>::copy_of(item), detail::no_wait);
  }
  /// Adds `item` (moved from only on success) if there is room now; false if full.
  bool try_put(T&& item) { return put_until(detail::offer<T>::move_of(item), detail::no_wait); }
  /// Like put(), waiting at most `d`; false if still full.
  template <class Rep, class Period>
  bool put_for(const T& item, std::chrono::duration<Rep, Period> d) {
    return put_until(detail::offer<T>::copy_of(item), detail::deadline_after(d));
  }
  /// Like put(), waiting at most `d`; false if still full (`item` is then left as it was).
  template <class Rep, class Period>
  bool put_for(T&& item, std::chrono::duration<Rep, Period> d) {
    return put_until(detail::offer<T>::move_of(item), detail::deadline_after(d));
  }

  /// Removes and returns the next item, waiting while empty; throws queue_closed once closed
  /// and drained.
  T get(std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    return *get_until(detail::no_deadline);
  }
  /// The next item if there is one now; throws queue_closed once closed and drained.
  std::optional<T> try_get() { return get_until(detail::no_wait); }
  /// Like get(), waiting at most `d`; nullopt if still empty.
  template <class Rep, class Period>
  std::optional<T> get_for(std::chrono::duration<Rep, Period> d, std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    return get_until(detail::deadline_after(d));
  }

  /// Marks one item taken with get() as processed (JoinableQueue); throws grove::error if
  /// called more often than items were put.
  void task_done() { core_.task_done(); }
  /// Waits until every item ever put has been marked with task_done().
  void join(std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    core_.join_until(detail::no_deadline);
  }
  /// Like join(), waiting at most `d`; false if items are still unfinished.
  template <class Rep, class Period>
  bool join_for(std::chrono::duration<Rep, Period> d) {
    return core_.join_until(detail::deadline_after(d));
  }
  /// Items put and not yet marked with task_done().
  std::size_t unfinished_tasks() const noexcept { return core_.unfinished(); }

  /// Refuses further puts and wakes every waiter (putters throw, getters drain then throw);
  /// false if it was already closed.
  bool close() noexcept { return core_.close(); }
  /// True once close() has been called.
  bool closed() const noexcept { return core_.closed(); }
  /// Items waiting in the queue.
  std::size_t size() const noexcept { return core_.size(); }
  /// True if no item waits in the queue.
  bool empty() const noexcept { return core_.size() == 0; }
  /// True if put() would wait.
  bool full() const noexcept { return core_.size() >= core_.capacity(); }
  /// The most items the queue holds (unbounded if unlimited).
  std::size_t capacity() const noexcept { return core_.capacity(); }

 private:
  using outcome = detail::exchange_base::outcome;

  bool put_until(detail::offer<T> item, detail::time_point deadline) {
    outcome result = core_.give(item, deadline);
    if (result == outcome::closed) detail::throw_queue_closed(true);
    return result == outcome::done;
  }
  std::optional<T> get_until(detail::time_point deadline) {
    std::optional<T> item;
    if (core_.take(item, deadline) == outcome::closed) detail::throw_queue_closed(false);
    return item;
  }

  detail::exchange<T, Order> core_;
};

/// First in, first out (gevent's Queue).
template <class T>
using queue = basic_queue<T, detail::fifo_order<T>>;

/// Last in, first out (gevent's LifoQueue).
template <class T>
using lifo_queue = basic_queue<T, detail::lifo_order<T>>;

/// Greatest item first under `Compare`, like std::priority_queue; use std::greater<T> for
/// smallest first (gevent's PriorityQueue). Waiting putters are still served in FIFO order.
template <class T, class Compare = std::less<T>>
using priority_queue = basic_queue<T, detail::priority_order<T, Compare>>;

}  // namespace grove
