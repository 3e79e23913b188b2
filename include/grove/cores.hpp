// All cores: one hub per thread, a function running on each (Seastar's smp, Go's GOMAXPROCS).
//
// Example (an echo server on every core, each with its own SO_REUSEPORT listener):
//   grove::net::sharded_server echo("127.0.0.1", 7000, handle_connection);
//   grove::run_on_cores(0, [&](std::size_t core) {    // 0: one hub per hardware thread
//     std::printf("core %zu of %zu serving\n", core, grove::this_core::count());
//     echo.serve();                                   // until echo.stop() from anywhere
//   });
//
// The shape. run_on_cores(n, fn) is the multi-core grove::run: it starts n hubs, core 0 on the
// calling thread and cores 1..n-1 on threads of their own, runs fn(core_index) as each hub's
// main fiber and returns when every one has ended (like Seastar's `smp::count` shards started by
// app_template, and like GOMAXPROCS = n, but explicit: nothing moves between cores by itself).
// Each core runs its own copy of fn; what fn captures by reference is shared by every core, so
// guard it (std::atomic, a mutex, or hand the work to one core through this_core::hub(i)).
// fn starts on a core once every core's hub is up, so this_core::hub(i) is valid for any i from
// the first line of fn until run_on_cores returns.
//
// Fibers never migrate. A fiber lives and dies on the hub that spawned it: thread_local
// variables, errno and the addresses of things on its stack stay what they were across every
// wait. Work moves between cores only when you send it: hub_ref::post / spawn, or channels,
// queues, events and futures made with grove::cross_thread. Balance comes from how you split the
// work (the kernel spreads a sharded_server's connections), not from work stealing.
//
// Failure. If fn throws on one core, run_on_cores kills the main fiber of every other core (a
// kill: fiber_killed at its next wait, RAII unwinds), waits for every core to end, then throws
// grove::core_error naming the core and carrying the original exception (cause()). The first
// failure wins; the kills it causes are not reported. Results: if fn returns a value,
// run_on_cores returns them in a std::vector, one per core in core order.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <grove/error.hpp>
#include <grove/hub_ref.hpp>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace grove {

/// How run_on_cores lays out its hubs.
struct cores_options {
  /// Number of hubs, one thread each; 0 means std::thread::hardware_concurrency().
  std::size_t cores = 0;
  /// Pin core i's thread to the i-th CPU this process may run on (round robin over the
  /// sched_getaffinity set). The calling thread (core 0) gets its old affinity back at the end.
  bool pin = false;
};

/// Thrown by run_on_cores when fn threw on a core: says which, and keeps the original exception.
class core_error : public error {
 public:
  /// An error for `core` (of `count`) that failed with `cause`.
  core_error(std::size_t core, std::size_t count, std::exception_ptr cause);
  /// The index of the core whose fn threw first.
  std::size_t core() const noexcept { return core_; }
  /// The exception fn threw there.
  std::exception_ptr cause() const noexcept { return cause_; }
  /// Throws the original exception.
  [[noreturn]] void rethrow_cause() const { std::rethrow_exception(cause_); }

 private:
  std::size_t core_;
  std::exception_ptr cause_;
};

namespace this_core {
/// The calling thread's core index in its run_on_cores (0-based); grove::error outside one.
std::size_t index();
/// The number of cores of the run_on_cores the calling thread belongs to; grove::error outside.
std::size_t count();
/// A handle to core `core`'s hub (post work, spawn fibers there); grove::error if out of range.
hub_ref hub(std::size_t core);
/// True if the calling thread is one of a run_on_cores' cores.
bool running() noexcept;
}  // namespace this_core

/// The number of cores `options` asks for: options.cores, or if 0 the hardware's thread count.
std::size_t core_count(const cores_options& options) noexcept;

namespace detail {
/// Runs `body(i)` as the main fiber of core i's hub, for every core; see run_on_cores.
void run_cores(const cores_options& options,
               const std::function<void(std::size_t)>& make_and_run_body);
}  // namespace detail

/// Runs a hub on each of `options.cores` threads (the calling thread is core 0) with a copy of
/// `fn(core_index)` as each main fiber; returns when all have ended (their results, one per core,
/// if fn returns a value). Throws core_error if fn threw on a core (the others were killed);
/// grove::error if called inside a hub or a thread cannot be started or pinned.
template <class Fn>
auto run_on_cores(const cores_options& options, Fn fn) {
  using T = std::invoke_result_t<Fn&, std::size_t>;
  if constexpr (std::is_void_v<T>) {
    detail::run_cores(options, [&fn](std::size_t core) {
      Fn own = fn;  // copied on the core's own thread and stack
      own(core);
    });
  } else {
    std::vector<std::optional<T>> slots(core_count(options));
    detail::run_cores(options, [&fn, &slots](std::size_t core) {
      Fn own = fn;
      slots[core].emplace(own(core));
    });
    std::vector<T> results;
    results.reserve(slots.size());
    for (auto& slot : slots) results.push_back(std::move(*slot));
    return results;
  }
}

/// run_on_cores with `cores` hubs (0: one per hardware thread), unpinned.
template <class Fn>
auto run_on_cores(std::size_t cores, Fn fn) {
  cores_options options;
  options.cores = cores;
  return run_on_cores(options, std::move(fn));
}

}  // namespace grove
