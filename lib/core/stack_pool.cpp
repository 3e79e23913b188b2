#include "core/stack_pool.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <grove/error.hpp>
#include <string>

#include "core/sanitizers.hpp"

// Linux 6.13 uapi values; Debian 12's glibc headers predate them.
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace grove::detail {
namespace {

// PIDFD_SELF (Linux 6.15): "the calling thread" for pidfd-taking calls; its memory is the
// process's. Resolved at each call, so it stays right in a forked child.
constexpr int pidfd_self = -10000;

// Applies `advice` to every range of `ranges` in as few system calls as possible:
// process_madvise() on the process itself takes IOV_MAX ranges a call for any advice since
// Linux 6.13 (the kernels with guard regions). Measured on this machine, one 4 KiB page a
// range, CPU time per range: MADV_DONTNEED 2.0 us with one madvise() each, 0.7 us batched;
// MADV_GUARD_INSTALL 1.4 us vs 0.9 us. Falls back to one madvise() a range (older kernels,
// seccomp filters); false if one of those failed.
bool advise_ranges(std::vector<iovec>& ranges, int advice) noexcept {
  // 0: untried, 1: PIDFD_SELF, 2: a pidfd of our own per call (before 6.15), 3: madvise only.
  static std::atomic<int> how{0};
  std::size_t done = 0;  // ranges already advised
  while (done < ranges.size() && how.load(std::memory_order_relaxed) != 3) {
    int mode = how.load(std::memory_order_relaxed);
    int pidfd = pidfd_self;
    if (mode == 2) pidfd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
    std::size_t count = std::min<std::size_t>(ranges.size() - done, IOV_MAX);
    std::size_t bytes = 0;
    for (std::size_t i = done; i < done + count; ++i) bytes += ranges[i].iov_len;
    long r = pidfd < 0 && mode == 2
                 ? -1
                 : ::syscall(SYS_process_madvise, pidfd, ranges.data() + done, count, advice, 0);
    if (mode == 2 && pidfd >= 0) ::syscall(SYS_close, pidfd);  // not close(): the shims may wrap it
    if (r == static_cast<long>(bytes)) {
      if (mode == 0) how.store(1, std::memory_order_relaxed);
      done += count;
      continue;
    }
    if (r < 0) {
      // PIDFD_SELF unknown (before 6.15), or process_madvise refused (before 6.13, seccomp):
      // the next way, for good. A range the kernel rejects lands here too; the madvise calls
      // below then report it, at the cost of the slower way from now on.
      how.store(mode < 2 ? 2 : 3, std::memory_order_relaxed);
      continue;
    }
    // Stopped part way (an error on one range): the rest one by one below.
    for (std::size_t i = done; i < done + count && r >= static_cast<long>(ranges[i].iov_len); ++i) {
      r -= static_cast<long>(ranges[i].iov_len);
      ++done;
    }
    break;
  }
  bool ok = true;
  for (std::size_t i = done; i < ranges.size(); ++i) {
    ok = ::madvise(ranges[i].iov_base, ranges[i].iov_len, advice) == 0 && ok;
  }
  ranges.clear();
  return ok;
}

// A slab's address space is free (MAP_NORESERVE, untouched): grow slabs geometrically so a
// small program maps little and a million stacks take a few hundred mappings.
constexpr std::size_t first_slab_slots = 16;
constexpr std::size_t max_slab_slots = 4096;
constexpr std::size_t max_slab_bytes = std::size_t{1} << 30;

stack_guard_kind probe_kernel() noexcept {
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* probe = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) return stack_guard_kind::mprotect;
  bool ok = ::madvise(probe, page, MADV_GUARD_INSTALL) == 0;  // EINVAL before Linux 6.13
  ::munmap(probe, 2 * page);
  return ok ? stack_guard_kind::region : stack_guard_kind::mprotect;
}

long read_max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  long value = -1;
  in >> value;
  return value;
}

[[noreturn]] void throw_map_failure(std::size_t usable, int err, std::size_t mapped,
                                    stack_guard_kind guard) {
  std::string text = "grove: cannot map a " + std::to_string(usable / 1024) + " KiB fiber stack (" +
                     std::strerror(err) + ") with " + std::to_string(mapped) +
                     " stacks mapped by this hub; stacks are guarded by " +
                     stack_guard_name(guard) + ". ";
  long limit = read_max_map_count();
  if (guard == stack_guard_kind::mprotect) {
    if (limit > 0) {
      text += "Each stack takes two kernel memory mappings and vm.max_map_count is " +
              std::to_string(limit) + ", which caps live fibers near " + std::to_string(limit / 2) +
              "; ";
    }
    text +=
        "use Linux >= 6.13 (guard regions: a few mappings for a million stacks; unset "
        "GROVE_STACK_GUARD=mprotect), or raise the limit as root (sysctl -w "
        "vm.max_map_count=2200000 allows about a million fibers), ";
  } else if (limit > 0) {
    text += "Stacks are carved from large slabs (vm.max_map_count " + std::to_string(limit) +
            " is not the limit); ";
  }
  text +=
      "check `ulimit -v`, or run fewer fibers at once / with smaller stacks "
      "(spawn_options::stack_size).";
  throw stack_error(text);
}

// Clears sanitizer poison left on a stack, from its deepest touched page up. Unpoisoning the
// whole stack writes its entire shadow (ASan memsets shadow ranges under 64 KiB): 32 KiB of
// memory for every 256 KiB stack, 3 GiB for 100k live fibers. Frames, hence poison, only ever
// sat on pages the fiber touched, which the kernel reports resident (an ASan build assumes no
// swap-out of stack pages).
void unpoison_used_part(char* low, std::size_t usable) noexcept {
#ifdef GROVE_ASAN
  static thread_local std::vector<unsigned char> resident;
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t pages = usable / page;
  try {
    resident.resize(pages);
  } catch (...) {
    sanitizer_unpoison(low, usable);
    return;
  }
  if (::mincore(low, usable, resident.data()) != 0) {
    sanitizer_unpoison(low, usable);
    return;
  }
  std::size_t i = 0;
  while (i < pages && !(resident[i] & 1)) ++i;
  if (i < pages) sanitizer_unpoison(low + i * page, usable - i * page);
#else
  (void)low, (void)usable;
#endif
}

}  // namespace

stack_guard_kind stack_guard_in_use() noexcept {
  if (const char* forced = std::getenv("GROVE_STACK_GUARD");
      forced && std::strcmp(forced, "mprotect") == 0) {
    return stack_guard_kind::mprotect;
  }
  static const stack_guard_kind kernel = probe_kernel();
  return kernel;
}

const char* stack_guard_name(stack_guard_kind kind) noexcept {
  return kind == stack_guard_kind::region ? "guard regions (madvise MADV_GUARD_INSTALL)"
                                          : "mprotect guard pages (GROVE_STACK_GUARD=mprotect "
                                            "or a kernel older than 6.13)";
}

stack_pool::stack_pool()
    : page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))), guard_(stack_guard_in_use()) {}

stack_pool::stack_use stack_pool::measure_use(std::size_t usable) const noexcept {
  std::vector<unsigned char> resident(usable / page_);
  stack_use use;
  auto measure = [&](char* low) {
    if (::mincore(low, usable, resident.data()) != 0) return;
    std::size_t pages = 0;
    std::size_t lowest = resident.size();
    for (std::size_t i = 0; i < resident.size(); ++i) {
      if (resident[i] & 1) {
        ++pages;
        if (lowest == resident.size()) lowest = i;
      }
    }
    if (pages == 0) return;
    ++use.stacks;
    use.deepest = std::max(use.deepest, usable - lowest * page_);
    use.most_resident = std::max(use.most_resident, pages * page_);
    use.total_resident += pages * page_;
  };
  for (const auto& b : buckets_) {
    if (b.usable != usable) continue;
    if (guard_ == stack_guard_kind::region) {
      for (const auto& s : b.slabs) {
        for (std::size_t i = 0; i < s.carved; ++i) {
          measure(s.base + i * (usable + guard_bytes) + guard_bytes);
        }
      }
    } else {
      for (const auto& s : b.warm) measure(static_cast<char*>(s.base) + s.guard);
    }
  }
  return use;
}

void stack_pool::report() const noexcept {
  for (const auto& b : buckets_) {
    stack_use use = measure_use(b.usable);
    std::fprintf(stderr,
                 "grove: stacks of %zu KiB: %zu used, deepest use %zu KiB, resident memory "
                 "at most %zu KiB a stack, %zu KiB on average (stacks given back idle not "
                 "counted)\n",
                 b.usable / 1024, use.stacks, use.deepest / 1024, use.most_resident / 1024,
                 use.stacks ? use.total_resident / use.stacks / 1024 : 0);
  }
}

stack_pool::~stack_pool() {
  if (const char* want = std::getenv("GROVE_STACK_REPORT"); want && *want && *want != '0') report();
  // Fibers abandoned at shutdown keep their stacks (something may still point into them), and
  // a slab cannot be unmapped in part without splitting it: keep everything then.
  if (in_use_ != 0) return;
  for (auto& b : buckets_) {
    if (guard_ == stack_guard_kind::region) {
      for (auto& s : b.slabs) ::munmap(s.base, s.slots * (b.usable + guard_bytes));
    } else {
      for (auto& s : b.warm) ::munmap(s.base, s.size);
      for (auto& s : b.cold) ::munmap(s.base, s.size);
    }
  }
}

std::size_t stack_pool::round(std::size_t usable) const noexcept {
  if (usable < 4 * page_) usable = 4 * page_;
  if (usable > (std::size_t{1} << 60)) return std::size_t{1} << 60;  // fails to map, clearly
  return (usable + page_ - 1) / page_ * page_;
}

stack_pool::bucket& stack_pool::find_bucket(std::size_t usable) {
  for (auto& b : buckets_) {
    if (b.usable == usable) return b;
  }
  buckets_.push_back({usable, {}, {}, {}});
  return buckets_.back();
}

stack_mapping stack_pool::allocate(std::size_t usable) {
  usable = round(usable);
  // Buckets are few (one per stack size in use) and the default one is almost always first.
  for (auto& b : buckets_) {
    if (b.usable != usable) continue;
    if (!b.warm.empty()) {
      stack_mapping s = b.warm.back();
      b.warm.pop_back();
      if (b.warm.size() >= max_pooled_per_size) --surplus_;
      ++in_use_;
      return s;
    }
    if (!b.cold.empty()) {
      stack_mapping s = b.cold.back();
      b.cold.pop_back();
      ++in_use_;
      return s;
    }
    break;
  }
  bucket& b = find_bucket(usable);
  stack_mapping s = guard_ == stack_guard_kind::region ? carve(b) : map_single(usable);
  ++in_use_;
  return s;
}

stack_mapping stack_pool::carve(bucket& b) {
  std::size_t slot = b.usable + guard_bytes;
  if (b.slabs.empty() || b.slabs.back().carved == b.slabs.back().slots) {
    std::size_t slots =
        b.slabs.empty() ? first_slab_slots : std::min(b.slabs.back().slots * 2, max_slab_slots);
    slots = std::max<std::size_t>(1, std::min(slots, max_slab_bytes / slot));
    b.slabs.reserve(b.slabs.size() + 1);  // may throw: before anything is mapped
    void* base = MAP_FAILED;
    int err = 0;
    // Halve on failure: a tight `ulimit -v` may still allow a smaller slab.
    for (;;) {
      std::size_t bytes = slots * slot;
      if (slot != 0 && bytes / slot == slots) {
        base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      }
      if (base != MAP_FAILED) break;
      err = errno;
      if (slots == 1) throw_map_failure(b.usable, err, mapped_, guard_);
      slots /= 2;
    }
    // A huge page would turn each stack's one touched page into 2 MiB shared by a few stacks.
    ::madvise(base, slots * slot, MADV_NOHUGEPAGE);
    b.slabs.push_back({static_cast<char*>(base), slots, 0, 0});
  }
  slab& s = b.slabs.back();
  char* low = s.base + s.carved * slot;
  if (s.carved == s.guarded) {
    // Guards for the next slots at once, in one system call (advise_ranges): address space
    // only, and the slots are carved next.
    std::size_t count = std::min(guard_chunk, s.slots - s.guarded);
    advice_.reserve(count);  // may throw: nothing changed yet
    for (std::size_t i = 0; i < count; ++i) {
      advice_.push_back({s.base + (s.guarded + i) * slot, guard_bytes});
    }
    if (!advise_ranges(advice_, MADV_GUARD_INSTALL)) {
      throw_map_failure(b.usable, errno, mapped_, guard_);
    }
    s.guarded += count;
  }
  ++s.carved;
  ++mapped_;
  return {low, slot, guard_bytes};
}

stack_mapping stack_pool::map_single(std::size_t usable) {
  std::size_t total = usable + guard_bytes;
  void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) throw_map_failure(usable, errno, mapped_, guard_);
  if (::mprotect(base, guard_bytes, PROT_NONE) != 0) {
    int err = errno;
    ::munmap(base, total);
    throw_map_failure(usable, err, mapped_, guard_);
  }
  ++mapped_;
  return {base, total, guard_bytes};
}

void stack_pool::release(stack_mapping s) noexcept {
  std::size_t usable = s.size - s.guard;
  // The dead fiber's frames may have left poisoned redzones behind; a new fiber must start clean.
  unpoison_used_part(static_cast<char*>(s.base) + s.guard, usable);
  --in_use_;
  trim_failed_ = false;
  for (auto& b : buckets_) {
    if (b.usable != usable) continue;
    try {
      b.warm.push_back(s);
    } catch (...) {
      // No memory for the bookkeeping: give the memory back and forget the stack (in a slab,
      // its address range is lost until the hub ends; with mprotect, unmapped).
      if (guard_ == stack_guard_kind::region) {
        ::madvise(static_cast<char*>(s.base) + s.guard, usable, MADV_DONTNEED);
      } else {
        ::munmap(s.base, s.size);
        --mapped_;
      }
      return;
    }
    if (b.warm.size() > max_pooled_per_size) ++surplus_;  // for trim(), from the hub loop
    return;
  }
  // Every stack comes from a bucket allocate() created; keep the mapping if this ever changes.
}

void stack_pool::trim() noexcept {
  std::size_t budget = trim_batch;
  for (auto& b : buckets_) {
    if (budget == 0) break;
    if (b.warm.size() <= max_pooled_per_size) continue;
    std::size_t n = std::min(b.warm.size() - max_pooled_per_size, budget);
    if (!trim_bucket(b, n)) {  // no memory for bookkeeping: try again after the next release
      trim_failed_ = true;
      return;
    }
    budget -= n;
    surplus_ -= n;
  }
}

bool stack_pool::trim_bucket(bucket& b, std::size_t count) noexcept {
  // The newest max_pooled_per_size stacks at the back of `warm` stay warm for reuse; the batch
  // is taken just below them, so erasing it moves only those few entries.
  try {
    b.cold.reserve(b.cold.size() + count);
    advice_.reserve(count);
  } catch (...) {
    return false;
  }
  auto last = b.warm.end() - static_cast<std::ptrdiff_t>(max_pooled_per_size);
  auto first = last - static_cast<std::ptrdiff_t>(count);
  auto by_address = [](const stack_mapping& x, const stack_mapping& y) { return x.base < y.base; };
  std::sort(first, last, by_address);
  // Neighbours in a slab are given back as one range [usable, guard, usable...]: MADV_DONTNEED
  // leaves guard regions in place. Separate mprotect mappings may have holes between them, so
  // those go one by one. The ranges go to the kernel in batches (advise_ranges).
  bool coalesce = guard_ == stack_guard_kind::region;
  for (auto it = first; it != last;) {
    char* from = static_cast<char*>(it->base) + it->guard;
    char* to = static_cast<char*>(it->base) + it->size;
    b.cold.push_back(*it);
    ++it;
    while (coalesce && it != last && it->base == to) {
      to = static_cast<char*>(it->base) + it->size;
      b.cold.push_back(*it);
      ++it;
    }
    advice_.push_back({from, static_cast<std::size_t>(to - from)});
  }
  advise_ranges(advice_, MADV_DONTNEED);
  b.warm.erase(first, last);
  return true;
}

}  // namespace grove::detail
