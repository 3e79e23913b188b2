// Guarded, pooled fiber stacks: mmap + a PROT_NONE guard region at the low end.
#pragma once

#include <cstddef>
#include <vector>

#include <grove/detail/fiber_base.hpp>

namespace grove::detail {

/// Maps stacks on demand and keeps released ones for reuse (per hub, so no locking).
class stack_pool {
 public:
  /// Bytes of PROT_NONE below every stack. Address space only, no memory: a large guard also
  /// catches frames that would jump a single page (big local arrays).
  static constexpr std::size_t guard_bytes = 64 * 1024;
  /// Released stacks kept warm per size; beyond that their pages are given back to the kernel
  /// (the mapping stays pooled for reuse).
  static constexpr std::size_t max_pooled_per_size = 1024;

  stack_pool();
  ~stack_pool();
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  /// A stack with at least `usable` bytes; throws grove::stack_error with advice on failure.
  stack_mapping allocate(std::size_t usable);
  /// Returns a stack for reuse.
  void release(stack_mapping stack) noexcept;
  /// Usable size `allocate(usable)` really provides (page-rounded).
  std::size_t round(std::size_t usable) const noexcept;
  /// Number of stacks currently mapped by this pool (in use or pooled).
  std::size_t mapped() const noexcept { return mapped_; }

 private:
  struct bucket {
    std::size_t usable;
    std::vector<stack_mapping> free;
  };
  std::vector<bucket> buckets_;
  std::size_t page_;
  std::size_t mapped_ = 0;
};

}  // namespace grove::detail
