// For a test executable that checks a path which must not allocate (a cross-thread wake, an
// offload call's way back, a dump request): replaces aligned_alloc (what Asio's handler
// allocator calls) and operator new, failing them on a thread that sets t_fail_allocations, or
// on every thread but the spared ones while g_fail_other_threads is set; and reads a hub's
// internals (lib/core: build with include_directories('../../lib')) to act only once the hub
// sleeps in its reactor. Include it in one translation unit of the executable: it defines the
// replacements.
#pragma once

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <grove/grove.hpp>
#include <new>
#include <thread>

#include "core/hub_control.hpp"

namespace grove_test {
/// Set on a thread: every allocation of that thread fails.
inline thread_local bool t_fail_allocations = false;
/// Set: every allocation fails on every thread that has not set t_spared (for a thread the
/// test cannot reach, such as grove's diagnostics thread).
inline std::atomic<bool> g_fail_other_threads{false};
inline thread_local bool t_spared = false;

/// True when an allocation on this thread must fail.
inline bool allocation_fails() noexcept {
  return t_fail_allocations || (g_fail_other_threads.load(std::memory_order_relaxed) && !t_spared);
}
}  // namespace grove_test

extern "C" void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  if (grove_test::allocation_fails()) {
    errno = ENOMEM;
    return nullptr;
  }
  return memalign(align, size);
}

void* operator new(std::size_t size) {
  void* p = grove_test::allocation_fails() ? nullptr : std::malloc(size ? size : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace grove_test {

/// The hub of the calling fiber: what another thread looks at to see it asleep.
inline grove::detail::hub_control& this_hub_control() { return *grove::detail::t_hub->control(); }

/// Blocks this (plain) thread until the hub has announced that it sleeps in its reactor; false
/// after 10 s.
inline bool wait_until_asleep(const grove::detail::hub_control& control) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!control.sleeping.load(std::memory_order_seq_cst)) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace grove_test
