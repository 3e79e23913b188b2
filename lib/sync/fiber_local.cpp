#include <grove/fiber_local.hpp>

#include <atomic>

#include <grove/error.hpp>

#include "core/fiber_local_slots.hpp"

namespace grove::detail {
namespace {

std::atomic<std::uint64_t> g_next_key{0};

fiber_base* calling_fiber() {
  fiber_base* self = current_fiber();
  if (!self) {
    throw error(
        "grove::fiber_local: used outside a fiber (in a hub callback or outside grove::run)");
  }
  return self;
}

}  // namespace

std::uint64_t new_fiber_local_key() noexcept {
  return g_next_key.fetch_add(1, std::memory_order_relaxed) + 1;
}

void* find_fiber_local(std::uint64_t key) {
  fiber_base* self = calling_fiber();
  if (!self->locals()) return nullptr;
  for (auto& entry : self->locals()->entries) {
    if (entry.key == key) return entry.value;
  }
  return nullptr;
}

void store_fiber_local(std::uint64_t key, void* value, void (*destroy)(void*) noexcept) {
  fiber_base* self = calling_fiber();
  fiber_extras& extras = self->extras();
  if (!extras.locals) extras.locals = new fiber_local_slots;
  extras.locals->entries.push_back({key, value, destroy});
}

void* release_fiber_local(std::uint64_t key) {
  fiber_base* self = calling_fiber();
  if (!self->locals()) return nullptr;
  auto& entries = self->locals()->entries;
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (it->key == key) {
      void* value = it->value;
      entries.erase(it);
      return value;
    }
  }
  return nullptr;
}

}  // namespace grove::detail
