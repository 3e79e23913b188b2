// Sanitizer hooks around grove's own stack switches. Debian's Boost.Context is the fcontext
// build, which makes no annotations, so ASan and TSan must be told about every switch here.
// ASan wants the stack being entered (start/finish around the jump); TSan wants a fiber handle
// per context, switched to right before the jump and in the same frame as it (TSan keeps a
// shadow call stack per fiber: a function returning between the switch and the jump would pop
// the wrong one). That is why the inline yield (grove/detail/yield.hpp) is off under TSan.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define GROVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GROVE_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define GROVE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GROVE_TSAN 1
#endif
#endif

#ifdef GROVE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#ifdef GROVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace grove::detail {

/// Before switching stacks: `fake_stack_save` is null when the current stack dies.
inline void sanitizer_start_switch(void** fake_stack_save, const void* to_low,
                                   std::size_t to_size) noexcept {
#ifdef GROVE_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, to_low, to_size);
#else
  (void)fake_stack_save, (void)to_low, (void)to_size;
#endif
}

/// After arriving on a stack (pass what start_switch saved for it, null on first entry).
inline void sanitizer_finish_switch(void* fake_stack_save) noexcept {
#ifdef GROVE_ASAN
  const void* old_low;
  std::size_t old_size;
  __sanitizer_finish_switch_fiber(fake_stack_save, &old_low, &old_size);
#else
  (void)fake_stack_save;
#endif
}

/// Tells LeakSanitizer that a deliberately abandoned fiber (its block and its stack, whose frames
/// reference what they allocated) is not a leak.
inline void sanitizer_abandon(const void* block, const void* stack, std::size_t size) noexcept {
#ifdef GROVE_ASAN
  __lsan_ignore_object(block);
  if (stack) __lsan_register_root_region(stack, size);
#else
  (void)block, (void)stack, (void)size;
#endif
}

/// Clears shadow poison over a stack that is about to be reused.
inline void sanitizer_unpoison(void* p, std::size_t n) noexcept {
#ifdef GROVE_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

/// TSan's handle for a new fiber's context (null without TSan); sanitizer_destroy_fiber ends it.
inline void* sanitizer_create_fiber() noexcept {
#ifdef GROVE_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}

/// TSan's handle for the context running now: the thread's own, for the hub loop.
inline void* sanitizer_current_fiber() noexcept {
#ifdef GROVE_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}

/// Ends a handle from sanitizer_create_fiber, from another context (never the running one).
inline void sanitizer_destroy_fiber(void* fiber) noexcept {
#ifdef GROVE_TSAN
  if (fiber) __tsan_destroy_fiber(fiber);
#else
  (void)fiber;
#endif
}

/// Tells TSan the thread now runs `to`'s context; call in the frame that then jumps. Flag 0:
/// the switch orders everything before it before everything after, as cooperative switching on
/// one thread does.
inline void sanitizer_switch_fiber(void* to) noexcept {
#ifdef GROVE_TSAN
  __tsan_switch_to_fiber(to, 0);
#else
  (void)to;
#endif
}

}  // namespace grove::detail
