// Offload: run a blocking function on a thread pool while the calling fiber waits for it
// cooperatively (other fibers keep running). For work that cannot yield: getaddrinfo, regular
// files, CPU-heavy functions, libraries that block in futexes.
//
// Example:
//   grove::run([] {
//     auto size = grove::offload([](std::string path) {
//       return std::filesystem::file_size(path);       // runs on a pool thread
//     }, std::string("/etc/hostname"));
//   });
//
// Each hub has its own pool (as gevent's hub.threadpool): threads start on demand, up to
// offload_threads() of them (default 10, or the environment's GROVE_THREADPOOL_SIZE; change it
// with set_offload_threads). Up to that many calls run at once: a burst of N <= offload_threads()
// calls starts threads for all of them, so calls that depend on one another (one unblocks another
// through a pipe) complete as long as they fit in the pool. Further calls queue in FIFO order.
// The function and its arguments (moved or copied in) run and are destroyed on the pool thread;
// the value or exception comes back to the caller. The hub never reports a deadlock while a fiber
// waits on the pool. The function must not use grove (it runs outside any hub).
//
// The rule for a waiter that is killed or whose scoped timeout expires:
//   - call still queued: it is dropped without running; the waiter throws at once;
//   - call running: the waiter throws at once; the call finishes on its thread and its result
//     is destroyed later (on the hub, or on the pool thread if the hub has ended);
//   - call finished, result on its way back: the waiter gets the result (nothing is lost) and
//     the kill or timeout is raised at its next wait, as for any grove operation that
//     completed anyway.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <grove/detail/inbox_item.hpp>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace grove {

namespace detail {

/// One call travelling to the pool and back. Owned by the waiting fiber, or by the pool once the
/// fiber has stopped waiting while it runs. Its way back is itself: the inbox_item the pool
/// thread pushes into the hub's inbox, so that a completion allocates nothing (`next` links
/// the pool's queue first, then the inbox).
struct offload_job : inbox_item {
  virtual ~offload_job() = default;
  /// Runs the function on a pool thread, capturing its value or exception.
  virtual void run() noexcept = 0;

  void* waiter = nullptr;  ///< the waiting fiber's completion (hub thread only)
  enum class state : unsigned char { queued, running, finished } status = state::queued;
  bool orphaned = false;  ///< the caller stopped waiting: the pool deletes the job
  std::exception_ptr error;
};

template <class T, class Fn>
struct offload_job_impl final : offload_job {
  explicit offload_job_impl(Fn&& fn) : fn(std::move(fn)) {}
  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<T>) {
        (*fn)();
      } else {
        value.emplace((*fn)());
      }
    } catch (...) {
      error = std::current_exception();
    }
    fn.reset();  // arguments die on the pool thread, where they were used
  }
  std::optional<Fn> fn;
  std::optional<std::conditional_t<std::is_void_v<T>, char, T>> value;
};

/// Queues `job` on the current hub's pool and waits until it has run; rethrows nothing of the
/// job's own. On kill / scoped timeout, drops or abandons the job (releasing `job`) and throws.
void run_offloaded(std::unique_ptr<offload_job>& job);

}  // namespace detail

/// Runs `fn(args...)` on the current hub's thread pool and returns its value (or rethrows its
/// exception) while other fibers run. Throws grove::error outside a fiber.
template <class Fn, class... Args>
auto offload(Fn&& fn, Args&&... args)
    -> std::invoke_result_t<std::decay_t<Fn>, std::decay_t<Args>...> {
  using T = std::invoke_result_t<std::decay_t<Fn>, std::decay_t<Args>...>;
  auto bound = [fn = std::forward<Fn>(fn), ... args = std::forward<Args>(args)]() mutable -> T {
    return std::invoke(std::move(fn), std::move(args)...);
  };
  using job_type = detail::offload_job_impl<T, decltype(bound)>;
  auto owned = std::make_unique<job_type>(std::move(bound));
  job_type* job = owned.get();
  std::unique_ptr<detail::offload_job> handle(std::move(owned));
  detail::run_offloaded(handle);
  if (job->error) std::rethrow_exception(job->error);
  if constexpr (!std::is_void_v<T>) return std::move(*job->value);
}

/// Sets how many threads the current hub's pool may run at once (at least 1). Throws
/// grove::error outside grove::run.
void set_offload_threads(std::size_t count);

/// How many threads the current hub's pool may run at once.
std::size_t offload_threads();

}  // namespace grove
