// The non-template half of grove::use_fiber: the checks and their messages.
#include <grove/use_fiber.hpp>

namespace grove::detail {

void require_fiber_for_use_fiber() {
  if (!current_fiber()) {
    throw error(
        "grove::use_fiber: the operation must be started from a fiber (not from a coroutine, a "
        "hub callback, nor outside grove::run); in a coroutine use asio::use_awaitable");
  }
}

void throw_foreign_executor() {
  throw error(
      "grove::use_fiber: the I/O object is bound to another execution context; build it on "
      "grove::hub::current().io_context() so its completion runs on this hub");
}

void throw_abandoned_operation() {
  throw error(
      "grove::use_fiber: the operation dropped its completion handler without calling it (was "
      "its I/O object or io_context destroyed?)");
}

}  // namespace grove::detail
