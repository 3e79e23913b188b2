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

#include <atomic>
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

/// What a remote_fiber shares with the hub its fiber runs on, for kill().
struct remote_fiber_link {
  /// Set (once) by remote_fiber::kill() on any thread, before it posts the kill; read on the
  /// target hub by the starter, so a kill that overtakes the start is never lost.
  std::atomic<bool> kill_requested{false};
  /// The started fiber, until its function's captures are destroyed. Touched only on the
  /// target hub's thread (the starter, the posted kill, the fiber's end), so it needs no lock.
  fiber_base* fiber = nullptr;
};
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
  /// Kills the fiber as fiber::kill() does, from any fiber of any hub or a plain thread: a
  /// kill is posted to its hub, where grove::fiber_killed is raised at the fiber's current or
  /// next wait and it unwinds with RAII; get() then throws killed_error. Does not wait: join()
  /// afterwards. A fiber not started yet never runs its function; a finished fiber, a second
  /// kill, an empty handle or a hub that has ended (which killed its fibers as it ended) make it
  /// a no-op.
  void kill() const {
    if (!link_ || result_.ready() || link_->kill_requested.exchange(true)) return;
    auto kill_there = [link = link_] {
      if (link->fiber) detail::kill(link->fiber);
    };
    detail::post_task(hub_.get(), std::make_unique<detail::remote_task_of<decltype(kill_there)>>(
                                      std::move(kill_there)));
  }

 private:
  friend class hub_ref;
  remote_fiber(future<T> result, std::shared_ptr<detail::hub_control> hub,
               std::shared_ptr<detail::remote_fiber_link> link) noexcept
      : result_(std::move(result)), hub_(std::move(hub)), link_(std::move(link)) {}
  future<T> result_;
  std::shared_ptr<detail::hub_control> hub_;
  std::shared_ptr<detail::remote_fiber_link> link_;
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
    auto link = std::make_shared<detail::remote_fiber_link>();
    remote_fiber<T> handle(done.get_future(), control_, link);
    auto body = [fn = std::forward<Fn>(fn), ... args = std::forward<Args>(args)]() mutable -> T {
      return std::invoke(std::move(fn), std::move(args)...);
    };
    if (!post(starter<T, decltype(body)>(std::move(done), std::move(body), std::move(link)))) {
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

  /// Owned by the started fiber's function: unlinks it from remote_fiber::kill() when its
  /// captures are destroyed (on its hub), and reports a fiber killed before its function ran,
  /// whose promise nobody else would set.
  template <class T>
  struct fiber_end {
    fiber_end(promise<T>&& p, std::shared_ptr<detail::remote_fiber_link> l) noexcept
        : done(std::move(p)), link(std::move(l)) {}
    fiber_end(fiber_end&&) = default;
    ~fiber_end() {
      if (link) link->fiber = nullptr;
      if (done.valid() && !done.ready()) {
        // Killed by its hub's end (it refuses new tasks by then): say so, not just "killed".
        done.set_exception(std::make_exception_ptr(killed_error(
            detail::hub_ending()
                ? "grove: the fiber started with hub_ref::spawn was killed before it ran: its "
                  "hub is ending"
                : "grove: the fiber started with hub_ref::spawn was killed before it ran")));
      }
    }
    promise<T> done;
    std::shared_ptr<detail::remote_fiber_link> link;
  };

  /// Posted by spawn: starts the fiber on the hub; if it never gets to (the hub ended), says
  /// so through the promise; if a kill came first, never runs the function.
  template <class T, class Body>
  struct starter {
    starter(promise<T>&& p, Body&& b, std::shared_ptr<detail::remote_fiber_link> l)
        : done(std::move(p)), body(std::move(b)), link(std::move(l)) {}
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
      if (link->kill_requested.load()) {  // a kill overtook the start: never run the function
        done.set_exception(std::make_exception_ptr(
            killed_error("grove: the fiber started with hub_ref::spawn was killed before it ran")));
        return;
      }
      detail::remote_fiber_link& l = *link;
      auto f = grove::spawn(
          [end = fiber_end<T>(std::move(done), std::move(link)), body = std::move(body)]() mutable {
            try {
              if constexpr (std::is_void_v<T>) {
                body();
                end.done.set_value();
              } else {
                end.done.set_value(body());
              }
            } catch (const fiber_killed&) {
              end.done.set_exception(std::make_exception_ptr(killed_error(
                  detail::hub_ending()
                      ? "grove: the fiber started with hub_ref::spawn was killed: its hub is ending"
                      : "grove: the fiber started with hub_ref::spawn was killed")));
              throw;
            } catch (...) {
              end.done.set_exception(std::current_exception());
            }
          });
      l.fiber = f.control_block();  // spawn never switches: the fiber has not run yet
    }
    promise<T> done;
    Body body;
    std::shared_ptr<detail::remote_fiber_link> link;
    bool started = false;
  };

  std::shared_ptr<detail::hub_control> control_;
};

}  // namespace grove
