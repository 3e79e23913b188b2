#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <string>

#include "core/hub_impl.hpp"

namespace grove::detail {

// User-provided: the anonymous union (suspension / spawned_at) rules out a defaulted one.
fiber_base::fiber_base() noexcept {}
// A million idle fibers pay for every byte of the block (bench/RESULTS.md, issue 10): 144 bytes,
// a 160-byte malloc chunk with a trivial callable; 16 more make it a 176-byte chunk and idle
// memory misses its goal (Go + 1.5 KiB). Diagnostics go to the top of the stack (stack_top).
#ifdef GROVE_TSAN_CONTEXT  // TSan builds add the context's TSan fiber handle
static_assert(sizeof(fiber_base) <= 144 + sizeof(void*), "keep the fiber control block small");
#else
static_assert(sizeof(fiber_base) <= 144, "keep the fiber control block small");
#endif

fiber_base::~fiber_base() { delete extras_; }

fiber_extras& fiber_base::extras() {
  if (!extras_) extras_ = new fiber_extras;
  return *extras_;
}

namespace {
// Keeps a control block alive while someone waits on it: another fiber may drop the last handle.
struct block_ref {
  explicit block_ref(fiber_base* f) noexcept : f(f) { retain(f); }
  ~block_ref() { release(f); }
  fiber_base* f;
};
}  // namespace

void join(fiber_base* f) {
  if (f->state == fiber_state::finished) return;
  if (f == current_fiber()) throw error("grove: a fiber cannot join itself");
  block_ref keep(f);
  const waiting_on on{wait_kind::join, reinterpret_cast<std::uintptr_t>(f)};
  while (f->state != fiber_state::finished) f->extras().joiners.wait(no_deadline, on);
}

bool join_until(fiber_base* f, time_point deadline) {
  if (f->state == fiber_state::finished) return true;
  if (f == current_fiber()) throw error("grove: a fiber cannot join itself");
  block_ref keep(f);
  while (f->state != fiber_state::finished) {
    if (!f->extras().joiners.wait(deadline, {wait_kind::join, reinterpret_cast<std::uintptr_t>(f)}))
      return f->state == fiber_state::finished;
  }
  return true;
}

void rethrow_if_failed(fiber_base* f) {
  if (f->error) {
    f->error_observed = true;
    std::rethrow_exception(f->error);
  }
  if (f->killed) {
    throw killed_error("grove: fiber " + std::to_string(f->id) + " '" + f->name_c_str() +
                       "' was killed before it produced a value");
  }
}

}  // namespace grove::detail

namespace grove::this_fiber {

std::uint64_t id() noexcept {
  auto* f = detail::current_fiber();
  return f ? f->id : 0;
}

std::string_view name() noexcept {
  auto* f = detail::current_fiber();
  return f ? f->name() : std::string_view();
}

}  // namespace grove::this_fiber
