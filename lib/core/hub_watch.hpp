// What grove's diagnostics thread (lib/debug/) sees of a hub: a switch counter the hub bumps
// at every switch, whether it sits idle in its reactor, its thread, and the dump request that
// thread posts to the hub. Hubs enter a process-wide registry while they run; the diagnostics
// thread reads it under the registry's mutex, so a hub never ends while that thread signals its
// thread or posts to its inbox.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <grove/detail/inbox_item.hpp>

namespace grove::detail {

class hub_impl;

/// The dump signal's request to one hub (lib/debug/monitor.cpp): preallocated, and pushed into
/// the hub's inbox at most once at a time (`queued`; a request while one is queued joins it), so
/// that the diagnostics thread allocates nothing to ask for a dump.
struct dump_request final : inbox_item {
  hub_impl* hub = nullptr;
  std::atomic<bool> queued{false};
};

struct hub_watch {
  /// The hub's count of loop passes and its switch budget (hub_core::count_switch): together
  /// they change at every switch, at no cost to the switch path. Only the hub writes them.
  const std::atomic<std::uint64_t>* switches = nullptr;
  const std::atomic<int>* budget = nullptr;
  /// A number that changes whenever the hub passes through its loop or switches fibers: the
  /// budget (0..256) only falls between two passes, and every pass is counted.
  std::uint64_t progress() const noexcept {
    return (switches->load(std::memory_order_relaxed) << 16) ^
           static_cast<std::uint16_t>(budget->load(std::memory_order_relaxed));
  }
  /// True while the loop waits in the reactor with nothing to run: not a stall.
  std::atomic<bool> idle{false};
  hub_impl* hub = nullptr;
  pthread_t thread{};
  pid_t tid = 0;  ///< for the reports

  // The monitor's own bookkeeping (diagnostics thread only, under the registry mutex).
  std::uint64_t seen = 0;  ///< progress() at the last look
  std::chrono::steady_clock::time_point seen_at{};
  long long seen_cpu_ns = -1;  ///< the thread's CPU time then (-1: unknown)
  bool reported = false;       ///< this incident (no switch since `seen`) was reported
  dump_request dump;           ///< in the hub's storage: posting it allocates nothing
  hub_watch* next = nullptr;
  hub_watch* prev = nullptr;
};

/// Enters `w` (the calling thread's hub) in the registry, and starts the monitor or the dump
/// signal if the environment asks for them (GROVE_MONITOR_MS, GROVE_DUMP_SIGNAL).
void register_hub(hub_watch& w) noexcept;
/// Leaves the registry (waits while the diagnostics thread looks at this hub).
void unregister_hub(hub_watch& w) noexcept;

}  // namespace grove::detail
