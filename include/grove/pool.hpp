// grove::pool: a group that runs at most n fibers at once (gevent's Pool), with map and
// imap_unordered over a range.
//
// Example:
//   grove::pool workers(8);                                  // at most 8 at once
//   workers.spawn(download, url);                            // waits while 8 are running
//   std::vector<int> sizes = workers.map(fetch_size, urls);  // results in input order
//   for (int size : workers.imap_unordered(fetch_size, urls))  // results as they complete
//     std::printf("%d\n", size);
//
// spawn() waits for a free slot (and, as in any group, while a kill() runs); slots are handed
// over first come, first served (a pool is a group whose entry is a grove::semaphore). map()
// spawns one task per item (each item and the function are copied into its fiber), waits for
// them in order and returns their results; if a task throws, map kills the tasks still running
// and rethrows. imap_unordered() returns a range yielding results in completion order, fed by
// a helper fiber; the pool must outlive it. If a task throws or is killed (even before it
// started), the remaining tasks are stopped, the results already delivered are yielded, then
// the loop rethrows the error (grove::killed_error for a kill). Leaving the loop early (or
// destroying the range) kills the helper and every task it started. Calling map / spawn from
// a member of a full pool deadlocks, as in gevent.
#pragma once

#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include <grove/channel.hpp>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/group.hpp>

namespace grove {

namespace detail {

/// Kills the fibers of `tasks` that are still running when destroyed, unless dismissed.
template <class R>
class kill_unfinished {
 public:
  explicit kill_unfinished(std::vector<fiber<R>>& tasks) noexcept : tasks_(&tasks) {}
  kill_unfinished(const kill_unfinished&) = delete;
  kill_unfinished& operator=(const kill_unfinished&) = delete;
  ~kill_unfinished() {
    if (!tasks_) return;
    for (auto& task : *tasks_) task.kill();
  }
  void dismiss() noexcept { tasks_ = nullptr; }

 private:
  std::vector<fiber<R>>* tasks_;
};

/// What imap_unordered's helper fiber, its tasks and the consumer share.
template <class R>
struct unordered_state {
  explicit unordered_state(std::size_t capacity) : results(capacity) {}
  /// Records the first failure and stops the run.
  void fail(std::exception_ptr error) noexcept {
    if (!first_error) first_error = std::move(error);
    results.close();
  }
  channel<R> results;
  std::exception_ptr first_error;
};

/// Builds the killed_error an imap_unordered run ends with when a task was killed.
std::exception_ptr task_killed_error();

template <class Fn, class Range>
using map_result_t = spawn_result_t<Fn&, std::ranges::range_reference_t<Range>>;

}  // namespace detail

/// The results of pool::imap_unordered, in completion order (an input range, one pass).
template <class R>
class unordered_results {
 public:
  /// Receives results until the run ends; rethrows a task's error at the end.
  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    /// The current result.
    R& operator*() const { return *current_; }
    /// Waits for the next result.
    iterator& operator++() {
      advance();
      return *this;
    }
    /// Waits for the next result.
    void operator++(int) { advance(); }
    /// True once every result has been yielded.
    bool operator==(std::default_sentinel_t) const noexcept { return !current_.has_value(); }

   private:
    friend class unordered_results;
    explicit iterator(detail::unordered_state<R>* state) : state_(state) { advance(); }
    void advance() {
      current_ = state_->results.receive();
      if (!current_ && state_->first_error) std::rethrow_exception(state_->first_error);
    }
    detail::unordered_state<R>* state_ = nullptr;
    mutable std::optional<R> current_;
  };

  unordered_results(unordered_results&&) noexcept = default;
  /// Stops this object's run (see the destructor), then takes over `other`'s.
  unordered_results& operator=(unordered_results&& other) noexcept {
    if (this != &other) {
      stop();
      state_ = std::move(other.state_);
      feeder_ = std::move(other.feeder_);
    }
    return *this;
  }
  /// Stops the run if it is still going: kills the helper fiber and its tasks.
  ~unordered_results() { stop(); }

  /// Waits for the first result.
  iterator begin() { return iterator(state_.get()); }
  /// The end of the results.
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend class pool;
  unordered_results(std::shared_ptr<detail::unordered_state<R>> state, fiber<void> feeder) noexcept
      : state_(std::move(state)), feeder_(std::move(feeder)) {}
  void stop() noexcept {
    if (feeder_.valid()) feeder_.kill();
  }
  std::shared_ptr<detail::unordered_state<R>> state_;
  fiber<void> feeder_;
};

/// A group running at most `size` members at once.
class pool : public group {
 public:
  /// A pool of `size` slots (at least 1).
  explicit pool(std::size_t size);

  /// The most members running at once.
  std::size_t capacity() const noexcept { return core_.limit(); }
  /// Slots free now (spawn() would not wait).
  std::size_t free_slots() const noexcept { return core_.free_slots(); }
  /// True if spawn() would wait.
  bool full() const noexcept { return free_slots() == 0; }

  /// Runs `fn(item)` for every item, at most capacity() at once; the results in input order.
  template <class Fn, std::ranges::input_range Range>
  auto map(Fn fn, Range&& items) {
    using R = detail::map_result_t<Fn, Range>;
    std::vector<fiber<R>> tasks;
    if constexpr (std::ranges::sized_range<Range>) tasks.reserve(std::ranges::size(items));
    detail::kill_unfinished<R> stop_on_error(tasks);
    for (auto&& item : items) tasks.push_back(spawn(fn, std::forward<decltype(item)>(item)));
    if constexpr (std::is_void_v<R>) {
      for (auto& task : tasks) task.get();
      stop_on_error.dismiss();
    } else {
      std::vector<R> results;
      results.reserve(tasks.size());
      for (auto& task : tasks) results.push_back(task.get());
      stop_on_error.dismiss();
      return results;
    }
  }

  /// Runs `fn(item)` for every item, at most capacity() at once, and yields the results as
  /// they complete. `items` is moved (or copied) into the helper fiber that feeds the pool.
  template <class Fn, std::ranges::input_range Range>
  auto imap_unordered(Fn fn, Range items) {
    using R = detail::map_result_t<Fn, Range&>;
    static_assert(!std::is_void_v<R>, "imap_unordered needs a function returning a value");
    auto state = std::make_shared<detail::unordered_state<R>>(capacity());
    auto feeder = grove::spawn([this, state, fn = std::move(fn),
                                items = std::move(items)]() mutable { feed(state, fn, items); });
    return unordered_results<R>(std::move(state), std::move(feeder));
  }

 private:
  /// The helper fiber of imap_unordered: spawns a task per item, closes the results at the end.
  template <class R, class Fn, class Range>
  void feed(const std::shared_ptr<detail::unordered_state<R>>& state, Fn& fn, Range& items) {
    std::vector<fiber<void>> tasks;
    struct finish {  // however the helper ends: no task outlives it, the consumer is told
      detail::unordered_state<R>& state;
      detail::kill_unfinished<void> stop;
      ~finish() { state.results.close(); }
    } on_exit{*state, detail::kill_unfinished<void>(tasks)};
    for (auto&& item : items) {
      if (state->results.closed()) break;  // a task failed
      // Each task holds the state: killed tasks may still be unwinding after the range is gone.
      tasks.push_back(spawn(
          [state, fn](auto&& item) mutable {
            try {
              state->results.send(std::invoke(fn, std::forward<decltype(item)>(item)));
            } catch (const channel_closed&) {
              // The run already stopped: drop this result.
            } catch (const fiber_killed&) {
              state->fail(detail::task_killed_error());
              throw;
            } catch (...) {
              state->fail(std::current_exception());
            }
          },
          std::forward<decltype(item)>(item)));
      if (tasks.size() >= 2 * capacity()) {
        std::erase_if(tasks, [&](auto& task) {
          if (!task.ready()) return false;
          note_if_killed(*state, task);
          return true;
        });
      }
    }
    for (auto& task : tasks) {
      task.join();
      note_if_killed(*state, task);
    }
  }

  /// A task killed before it started never ran the body that reports its kill: report it here.
  template <class R>
  static void note_if_killed(detail::unordered_state<R>& state, const fiber<void>& task) {
    if (task.control_block()->killed) state.fail(detail::task_killed_error());
  }
};

}  // namespace grove
