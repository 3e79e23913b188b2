// What grove's diagnostics thread (lib/debug/) sees of a hub: a switch counter the hub bumps
// at every switch, whether it sits idle in its reactor, and its thread. Hubs enter a
// process-wide registry while they run; the diagnostics thread reads it under the registry's
// mutex, so a hub never ends while that thread signals its thread or posts to its io_context.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace grove::detail {

class hub_impl;

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
  hub_watch* next = nullptr;
  hub_watch* prev = nullptr;
};

/// Enters `w` (the calling thread's hub) in the registry, and starts the monitor or the dump
/// signal if the environment asks for them (GROVE_MONITOR_MS, GROVE_DUMP_SIGNAL).
void register_hub(hub_watch& w) noexcept;
/// Leaves the registry (waits while the diagnostics thread looks at this hub).
void unregister_hub(hub_watch& w) noexcept;

}  // namespace grove::detail
