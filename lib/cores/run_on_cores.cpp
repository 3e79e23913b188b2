// run_on_cores: a hub per thread, started together, stopped together when one fails. See
// include/grove/cores.hpp for the contract.
#include <pthread.h>
#include <sched.h>

#include <cstring>
#include <grove/cores.hpp>
#include <grove/detail/suspension.hpp>
#include <grove/hub.hpp>
#include <latch>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace grove {
namespace {

std::string describe(const std::exception_ptr& cause) {
  try {
    std::rethrow_exception(cause);
  } catch (const std::exception& e) {
    return e.what();
  } catch (const fiber_killed& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

/// What the cores of one run share. Lives on the calling thread's stack until every core's
/// thread has been joined.
struct run_state {
  explicit run_state(std::size_t n) : count(n), started(n), hubs(n), mains(n, nullptr) {}

  const std::size_t count;
  std::latch started;  ///< every core's hub is up (or will never be)

  std::mutex mutex;  ///< guards what follows (hubs and mains: until `started` is passed)
  std::vector<std::optional<hub_ref>> hubs;
  std::vector<detail::fiber_base*> mains;  ///< each core's main fiber (killed on its own hub)
  bool stopping = false;
  std::size_t failed_core = 0;
  std::exception_ptr failure;
  bool failure_is_startup = false;  ///< failure is grove's own (thread, pinning), not fn's
};

thread_local run_state* t_run = nullptr;
thread_local std::size_t t_core = 0;

/// Records the first failure and asks every other core to stop: its main fiber is killed on its
/// own hub (the main fiber is alive while its hub runs: grove::run holds it).
void fail(run_state& run, std::size_t core, std::exception_ptr cause, bool startup) {
  std::lock_guard lock(run.mutex);
  if (run.stopping) return;  // the first failure wins; what follows is its consequence
  run.stopping = true;
  run.failed_core = core;
  run.failure = std::move(cause);
  run.failure_is_startup = startup;
  for (std::size_t i = 0; i < run.count; ++i) {
    if (i == core || !run.hubs[i]) continue;
    detail::fiber_base** main = &run.mains[i];
    run.hubs[i]->post([main] { detail::kill(*main); });  // false: that hub has ended already
  }
}

bool stopping(run_state& run) {
  std::lock_guard lock(run.mutex);
  return run.stopping;
}

/// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
  }
  return cpus;
}

void pin_this_thread(std::size_t core, const std::vector<int>& cpus) {
  if (cpus.empty()) throw error("grove::run_on_cores: cannot read this process's CPU set");
  int cpu = cpus[core % cpus.size()];
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int e = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); e != 0) {
    throw error("grove::run_on_cores: cannot pin core " + std::to_string(core) + " to CPU " +
                std::to_string(cpu) + ": " + std::strerror(e));
  }
}

/// One core, on its own thread (or the caller's for core 0): pin, start the hub, meet the others,
/// run the body, report how it ended.
void run_core(run_state& run, std::size_t core, const cores_options& options,
              const std::vector<int>& cpus, const std::function<void(std::size_t)>& body) {
  bool arrived = false;
  auto arrive = [&] {
    if (!arrived) {
      arrived = true;
      run.started.count_down();
    }
  };
  bool startup = true;
  try {
    if (options.pin) pin_this_thread(core, cpus);
    grove::run([&] {
      {
        std::lock_guard lock(run.mutex);  // fail() may read them from another core meanwhile
        run.mains[core] = detail::current_fiber();
        run.hubs[core] = hub::current().ref();
      }
      arrive();
      // Blocks this thread, but the hub has nothing else to run yet: fn starts on every core
      // once every hub can be reached.
      run.started.wait();
      if (stopping(run)) return;  // another core failed to start
      startup = false;
      t_run = &run;
      t_core = core;
      body(core);
    });
  } catch (...) {
    // Record the failure before arriving: a core passing the latch must see it.
    fail(run, core, std::current_exception(), startup);
    arrive();
  }
  arrive();
  t_run = nullptr;
}

}  // namespace

core_error::core_error(std::size_t core, std::size_t count, std::exception_ptr cause)
    : error("grove::run_on_cores: core " + std::to_string(core) + " of " + std::to_string(count) +
            " failed: " + describe(cause) + " (the other cores were stopped)"),
      core_(core),
      cause_(std::move(cause)) {}

namespace this_core {

std::size_t index() {
  if (!t_run) throw error("grove::this_core::index: not called on a core of grove::run_on_cores");
  return t_core;
}

std::size_t count() {
  if (!t_run) throw error("grove::this_core::count: not called on a core of grove::run_on_cores");
  return t_run->count;
}

hub_ref hub(std::size_t core) {
  if (!t_run) throw error("grove::this_core::hub: not called on a core of grove::run_on_cores");
  if (core >= t_run->count) {
    throw error("grove::this_core::hub: core " + std::to_string(core) + " out of range (" +
                std::to_string(t_run->count) + " cores)");
  }
  return *t_run->hubs[core];
}

bool running() noexcept { return t_run != nullptr; }

}  // namespace this_core

std::size_t core_count(const cores_options& options) noexcept {
  if (options.cores != 0) return options.cores;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

namespace detail {

void run_cores(const cores_options& options, const std::function<void(std::size_t)>& body) {
  if (hub::running()) {
    throw error(
        "grove::run_on_cores: called inside a hub (call it where grove::run would go, e.g. main; "
        "it starts the hubs itself)");
  }
  const std::size_t n = core_count(options);
  run_state run(n);
  std::vector<int> cpus = options.pin ? allowed_cpus() : std::vector<int>{};
  cpu_set_t caller_affinity;
  bool restore_affinity =
      options.pin &&
      ::pthread_getaffinity_np(::pthread_self(), sizeof caller_affinity, &caller_affinity) == 0;

  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (std::size_t core = 1; core < n; ++core) {
    try {
      threads.emplace_back([&, core] { run_core(run, core, options, cpus, body); });
    } catch (const std::system_error& e) {
      fail(run, core,
           std::make_exception_ptr(error("grove::run_on_cores: cannot start the thread of core " +
                                         std::to_string(core) + ": " + e.what())),
           true);
      // The cores that will never start still count for the latch, or the others would wait.
      for (std::size_t missing = core; missing < n; ++missing) run.started.count_down();
      break;
    }
  }
  run_core(run, 0, options, cpus, body);
  for (auto& t : threads) t.join();
  if (restore_affinity) {
    ::pthread_setaffinity_np(::pthread_self(), sizeof caller_affinity, &caller_affinity);
  }

  if (run.failure) {
    if (run.failure_is_startup) std::rethrow_exception(run.failure);
    throw core_error(run.failed_core, n, run.failure);
  }
}

}  // namespace detail
}  // namespace grove
