#include "core/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <grove/error.hpp>

#include "core/sanitizers.hpp"

namespace grove::detail {
namespace {

long read_max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  long value = -1;
  in >> value;
  return value;
}

[[noreturn]] void throw_map_failure(std::size_t usable, int err, std::size_t mapped) {
  std::string text = "grove: cannot map a " + std::to_string(usable / 1024) +
                     " KiB fiber stack (" + std::strerror(err) + ") with " +
                     std::to_string(mapped) + " stacks mapped by this hub. ";
  long limit = read_max_map_count();
  if (limit > 0) {
    text += "Each stack takes two kernel memory mappings and vm.max_map_count is " +
            std::to_string(limit) + ", which caps live fibers near " + std::to_string(limit / 2) +
            "; ";
  }
  text +=
      "raise it as root (sysctl -w vm.max_map_count=2200000 allows about a million fibers), "
      "check `ulimit -v`, or run fewer fibers at once / with smaller stacks "
      "(spawn_options::stack_size).";
  throw stack_error(text);
}

}  // namespace

stack_pool::stack_pool() : page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) {}

stack_pool::~stack_pool() {
  for (auto& b : buckets_) {
    for (auto& s : b.free) ::munmap(s.base, s.size);
  }
}

std::size_t stack_pool::round(std::size_t usable) const noexcept {
  if (usable < 4 * page_) usable = 4 * page_;
  if (usable > (std::size_t{1} << 60)) return std::size_t{1} << 60;  // fails to map, clearly
  return (usable + page_ - 1) / page_ * page_;
}

stack_mapping stack_pool::allocate(std::size_t usable) {
  usable = round(usable);
  for (auto& b : buckets_) {
    if (b.usable == usable && !b.free.empty()) {
      stack_mapping s = b.free.back();
      b.free.pop_back();
      return s;
    }
  }
  std::size_t total = usable + guard_bytes;
  void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) throw_map_failure(usable, errno, mapped_);
  if (::mprotect(base, guard_bytes, PROT_NONE) != 0) {
    int err = errno;
    ::munmap(base, total);
    throw_map_failure(usable, err, mapped_);
  }
  ++mapped_;
  return {base, total, guard_bytes};
}

void stack_pool::release(stack_mapping s) noexcept {
  std::size_t usable = s.size - s.guard;
  // The dead fiber's frames may have left poisoned redzones behind; a new fiber must start clean.
  sanitizer_unpoison(static_cast<char*>(s.base) + s.guard, usable);
  for (auto& b : buckets_) {
    if (b.usable == usable) {
      if (b.free.size() >= max_pooled_per_size) {
        // Past the warm reserve, give the memory back but keep the mapping: munmap costs far
        // more (VMA surgery, measured ~40% of a 1M-sleeper run) and the address range and
        // map count were already granted at the peak.
        ::madvise(static_cast<char*>(s.base) + s.guard, usable, MADV_DONTNEED);
      }
      try {
        b.free.push_back(s);
      } catch (...) {
        ::munmap(s.base, s.size);
        --mapped_;
      }
      return;
    }
  }
  try {
    buckets_.push_back({usable, {}});
    buckets_.back().free.push_back(s);
  } catch (...) {
    ::munmap(s.base, s.size);
    --mapped_;
  }
}

}  // namespace grove::detail
