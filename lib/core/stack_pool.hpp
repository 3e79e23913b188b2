// Guarded, pooled fiber stacks: each stack has an inaccessible guard region at its low end.
//
// Two ways to guard, chosen once per process at run time:
// - guard regions (Linux >= 6.13, `madvise(MADV_GUARD_INSTALL)`): stacks are carved from large
//   slabs, one mmap each; a guard region does not split the mapping, so a million guarded stacks
//   cost a few hundred kernel mappings and fit the default vm.max_map_count (65530);
// - mprotect (older kernels, or GROVE_STACK_GUARD=mprotect): one mmap per stack with a PROT_NONE
//   guard, two kernel mappings per stack (live fibers capped near vm.max_map_count / 2).
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <grove/detail/fiber_base.hpp>
#include <vector>

namespace grove::detail {

/// How stacks are guarded in this process.
enum class stack_guard_kind { region, mprotect };

/// The guard a new hub uses: `region` when the kernel has MADV_GUARD_INSTALL (probed once per
/// process) and the environment variable GROVE_STACK_GUARD is not `mprotect`.
stack_guard_kind stack_guard_in_use() noexcept;

/// Human-readable name of a guard kind, for messages.
const char* stack_guard_name(stack_guard_kind kind) noexcept;

/// Carves or maps stacks on demand and keeps released ones for reuse (per hub, so no locking).
class stack_pool {
 public:
  /// Bytes of guard below every stack. Address space only, no memory: a large guard also
  /// catches frames that would jump a single page (big local arrays).
  static constexpr std::size_t guard_bytes = stack_guard_bytes;  // fiber_base.hpp
  /// Released stacks kept warm (their touched pages kept) per size; the memory of older idle
  /// stacks is given back to the kernel by trim(), the address range stays pooled.
  static constexpr std::size_t max_pooled_per_size = 1024;
  /// Most idle stacks one trim() gives back: bounds how long the hub is busy trimming (about
  /// 1 ms: 0.7 us a stack, batched).
  static constexpr std::size_t trim_batch = 1024;
  /// A hub that is never idle gives idle stacks back at most one batch per period: about 1% of
  /// its time. An idle hub does it at once (hub loop); release() never does.
  static constexpr std::chrono::milliseconds busy_trim_period{100};

  stack_pool();
  ~stack_pool();
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  /// A stack with at least `usable` bytes; throws grove::stack_error with advice on failure.
  stack_mapping allocate(std::size_t usable);
  /// Returns a stack for reuse. Never a syscall: memory goes back in trim().
  void release(stack_mapping stack) noexcept;
  /// Gives the memory of up to trim_batch idle stacks beyond the warm reserve back to the
  /// kernel, coalescing neighbours into one madvise. For the hub to call when it goes idle.
  void trim() noexcept;
  /// trim() for a hub with work to do: at most once per busy_trim_period (`now`: its clock).
  /// Stacks that die in a burst are kept a while this way: a busy hub reuses them, and the
  /// memory it would give back at once it would fault in and clear again.
  void trim_paced(time_point now) noexcept {
    if (now < next_busy_trim_) return;
    next_busy_trim_ = now + busy_trim_period;
    trim();
  }
  /// Whether trim() has work to do. Not after a trim that failed for want of memory for its
  /// bookkeeping, until the next release(): the idle hub would otherwise retry it in a loop.
  bool has_surplus() const noexcept { return surplus_ != 0 && !trim_failed_; }
  /// The mapping allocate() returned whose base is `base`, for `usable` as round() gave it
  /// (fibers keep only the base: every stack has the same guard).
  static stack_mapping mapping_of(void* base, std::size_t usable) noexcept {
    return {base, usable + guard_bytes, guard_bytes};
  }
  /// Usable size `allocate(usable)` really provides (page-rounded).
  std::size_t round(std::size_t usable) const noexcept;
  /// Number of stacks currently carved or mapped by this pool (in use or pooled).
  std::size_t mapped() const noexcept { return mapped_; }
  /// Number of stacks handed out by allocate() and not released yet.
  std::size_t in_use() const noexcept { return in_use_; }
  /// How stacks of `usable` bytes were used, from the kernel's residency (stacks are fresh zero
  /// pages until touched), in whole pages. Idle stacks trim() gave back are not counted.
  struct stack_use {
    std::size_t stacks = 0;          ///< stacks with any page touched
    std::size_t deepest = 0;         ///< bytes from the top to the lowest touched page
    std::size_t most_resident = 0;   ///< touched bytes of the worst stack
    std::size_t total_resident = 0;  ///< touched bytes of all of them
  };
  stack_use measure_use(std::size_t usable) const noexcept;
  /// Prints measure_use() per stack size (GROVE_STACK_REPORT=1 at hub
  /// end): how small a stack size a program can afford.
  void report() const noexcept;
  /// The guard this pool uses.
  stack_guard_kind guard() const noexcept { return guard_; }

 private:
  /// Slots of a slab that get their guard regions in one system call.
  static constexpr std::size_t guard_chunk = 64;
  struct slab {
    char* base;
    std::size_t slots;
    std::size_t carved;
    std::size_t guarded;  ///< slots whose guard is installed (carved <= guarded)
  };
  struct bucket {
    std::size_t usable;
    std::vector<stack_mapping> warm;  ///< released, pages possibly touched; newest at the back
    std::vector<stack_mapping> cold;  ///< released, memory already given back
    std::vector<slab> slabs;          ///< region guard only; the last one is being carved
  };
  bucket& find_bucket(std::size_t usable);
  stack_mapping carve(bucket& b);
  stack_mapping map_single(std::size_t usable);
  bool trim_bucket(bucket& b, std::size_t count) noexcept;

  std::vector<bucket> buckets_;
  std::vector<iovec> advice_;  ///< ranges for one batch of madvise (advise_ranges)
  std::size_t page_;
  std::size_t mapped_ = 0;
  std::size_t in_use_ = 0;
  std::size_t surplus_ = 0;      ///< warm stacks beyond max_pooled_per_size, all buckets
  bool trim_failed_ = false;     ///< see has_surplus()
  time_point next_busy_trim_{};  ///< see trim_paced()
  stack_guard_kind guard_;
};

}  // namespace grove::detail
