// grove::hub_ref: a handle other threads use to reach a hub: run a callback there, or start a
// fiber there and wait for its result from anywhere.
//
// Example:
//   grove::hub_ref worker_hub;                              // filled in by the worker thread
//   grove::event hub_up(grove::cross_thread);
//   std::thread worker([&] {
//     grove::run([&] {
//       worker_hub = grove::hub::current().ref();
//       hub_up.set();
//       grove::this_fiber::sleep_for(1s);                  // the hub serves while main runs
//     });
//   });
//   hub_up.wait();                                          // a plain thread may wait
//   worker_hub.post([] { std::puts("on the worker's hub"); });
//   auto answer = worker_hub.spawn([](int x) { return x * 2; }, 21);
//   std::printf("%d\n", answer.get());                      // 42; get() also works in a fiber
//   worker.join();
//
// Copyable and thread-safe; it never keeps the hub alive. Once the hub has ended (its main
// fiber finished), post() returns false and spawn() throws grove::error; work posted before and
// not yet run when the hub ends is destroyed unrun on the hub's thread, and a remote_fiber
// whose fiber never started reports that through get(). Fibers never migrate: a fiber started
// with spawn() lives on that hub until it ends.
#pragma once

#include <chrono>
#include <exception>
#include <grove/cross_thread.hpp>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/future.hpp>
#include <grove/hub.hpp>
#include <memory>
#include <type_traits>
#include <utility>

namespace grove {

namespace detail {
struct hub_control;

/// A type-erased callable posted to a hub.
struct remote_task {
  virtual ~remote_task() = default;
  virtual void run() = 0;
};
template <class Fn>
struct remote_task_of final : remote_task {
  explicit remote_task_of(Fn&& f) : fn(std::move(f)) {}
  void run() override { fn(); }
  Fn fn;
};

/// Posts `task` to run on the hub as a callback; false if the hub has ended (or no hub).
bool post_task(hub_control* control, std::unique_ptr<remote_task> task);
/// True while the hub has not begun to end.
bool hub_alive(hub_control* control) noexcept;
/// True if this thread's hub is ending (or there is none): no new fiber may start on it.
bool hub_ending() noexcept;
}  // namespace detail

/// A fiber started on another hub with hub_ref::spawn: wait for it from any fiber or thread.
template <class T>
class remote_fiber {
 public:
  remote_fiber() noexcept = default;

  /// True if the handle refers to a fiber.
  bool valid() const noexcept { return result_.valid(); }
  /// True once the fiber has finished.
  bool ready() const noexcept { return result_.ready(); }
  /// Waits until the fiber finishes; never throws the fiber's own exception.
  void join() const { result_.wait(); }
  /// Waits at most `d`; true if the fiber finished.
  template <class Rep, class Period>
  bool join_for(std::chrono::duration<Rep, Period> d) const {
    return result_.wait_for(d);
  }
  /// Waits, then returns the value or rethrows the fiber's exception: killed_error if it was
  /// killed, grove::error if its hub ended before it started.
  std::conditional_t<std::is_void_v<T>, void, std::add_lvalue_reference_t<const T>> get() const {
    return result_.get();
  }

 private:
  friend class hub_ref;
  explicit remote_fiber(future<T> result) noexcept : result_(std::move(result)) {}
  future<T> result_;
};

/// A thread-safe handle to a hub (see the top of this header).
class hub_ref {
 public:
  /// An empty handle: post() returns false, spawn() throws.
  hub_ref() noexcept = default;

  /// Runs `fn()` on the hub as a callback (it must not wait; it may spawn fibers or set
  /// primitives). False if the hub has ended (fn is dropped).
  template <class Fn>
  bool post(Fn&& fn) const {
    using task = detail::remote_task_of<std::decay_t<Fn>>;
    return detail::post_task(control_.get(), std::make_unique<task>(std::forward<Fn>(fn)));
  }

  /// Starts `fn(args...)` in a new fiber on the hub; args are copied/moved in. Throws
  /// grove::error if the hub has ended.
  template <class Fn, class... Args>
  auto spawn(Fn&& fn, Args&&... args) const -> remote_fiber<detail::spawn_result_t<Fn, Args...>> {
    using T = detail::spawn_result_t<Fn, Args...>;
    promise<T> done(cross_thread);
    remote_fiber<T> handle(done.get_future());
    auto body = [fn = std::forward<Fn>(fn), ... args = std::forward<Args>(args)]() mutable -> T {
      return std::invoke(std::move(fn), std::move(args)...);
    };
    if (!post(starter<T, decltype(body)>(std::move(done), std::move(body)))) {
      throw error("grove::hub_ref::spawn: the hub has ended");
    }
    return handle;
  }

  /// True while the hub runs and has not begun to end (a hint: it may end right after).
  bool alive() const noexcept { return detail::hub_alive(control_.get()); }
  /// True if both refer to the same hub.
  friend bool operator==(const hub_ref& a, const hub_ref& b) noexcept {
    return a.control_ == b.control_;
  }

 private:
  friend class hub;
  explicit hub_ref(std::shared_ptr<detail::hub_control> control) noexcept
      : control_(std::move(control)) {}

  /// Posted by spawn: starts the fiber on the hub; if it never gets to (the hub ended), says
  /// so through the promise.
  template <class T, class Body>
  struct starter {
    starter(promise<T>&& p, Body&& b) : done(std::move(p)), body(std::move(b)) {}
    starter(starter&&) = default;
    ~starter() {
      if (!started && done.valid() && !done.ready()) {
        done.set_exception(std::make_exception_ptr(
            error("grove::hub_ref::spawn: the hub ended before the fiber started")));
      }
    }
    void operator()() {
      if (detail::hub_ending()) return;  // the destructor reports it
      started = true;
      grove::spawn([done = std::move(done), body = std::move(body)]() mutable {
        try {
          if constexpr (std::is_void_v<T>) {
            body();
            done.set_value();
          } else {
            done.set_value(body());
          }
        } catch (const fiber_killed&) {
          done.set_exception(std::make_exception_ptr(
              killed_error("grove: the fiber started with hub_ref::spawn was killed")));
          throw;
        } catch (...) {
          done.set_exception(std::current_exception());
        }
      });
    }
    promise<T> done;
    Body body;
    bool started = false;
  };

  std::shared_ptr<detail::hub_control> control_;
};

}  // namespace grove
