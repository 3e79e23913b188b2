// Storage behind grove::fiber_local: destroyed with the fiber, on its own stack.
#include "core/fiber_local_slots.hpp"

namespace grove::detail {

void destroy_fiber_locals(fiber_base* f) noexcept {
  fiber_extras* extras = f->extras_if_any();  // there are locals: it exists
  fiber_local_slots* slots = extras->locals;
  extras->locals = nullptr;
  // Newest first, like automatic variables; a destructor may create new locals: loop.
  while (slots) {
    while (!slots->entries.empty()) {
      auto entry = slots->entries.back();
      slots->entries.pop_back();
      entry.destroy(entry.value);
    }
    delete slots;
    slots = extras->locals;
    extras->locals = nullptr;
  }
}

}  // namespace grove::detail
