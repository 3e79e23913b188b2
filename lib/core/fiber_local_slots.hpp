// Per-fiber storage for grove::fiber_local: a short list of (key, value, destroy) entries.
#pragma once

#include <cstdint>
#include <vector>

#include <grove/detail/fiber_base.hpp>

namespace grove::detail {

struct fiber_local_slots {
  struct entry {
    std::uint64_t key;  ///< unique per fiber_local object (never an address: those get reused)
    void* value;
    void (*destroy)(void*) noexcept;
  };
  std::vector<entry> entries;
};

}  // namespace grove::detail
