// The non-template half of grove::use_fiber: the checks and their messages, and the hub's side
// of its fast paths (lib/core/asio_thread.hpp).
#include <cerrno>
#include <grove/use_fiber.hpp>
#include <memory>
#include <new>

#include "core/hub_control.hpp"
#include "core/hub_impl.hpp"

namespace grove::detail {

fiber_hub use_fiber_hub() {
  require_fiber_for_use_fiber();
  hub_impl* h = t_hub;
  return {h, &h->io(), h->control().get()};
}

void post_completion(hub_control* control, inbox_item* item) noexcept {
  // The item's fiber waits for it, so until the push the hub lives, and with it the hub's
  // reference to `control` (or, the fiber abandoned, the control's reference to itself). Once
  // pushed, the hub may run the item, end and drop its reference while post_item still reads
  // the sleep flag or interrupts the reactor: this post holds a reference of its own (a count,
  // no allocation). Refused, the hub has ended and left the fiber abandoned: nothing to do.
  std::shared_ptr<hub_control> keep = control->shared_from_this();
  post_item(*control, item);
}

void* allocate_operation(std::size_t size) {
  if (hub_impl* h = t_hub) return h->asio().allocate(size);
  return ::operator new(asio_thread::block_size(size));  // a hub's pool may keep it later
}

void deallocate_operation(void* p, std::size_t size) noexcept {
  if (hub_impl* h = t_hub) {
    h->asio().deallocate(p, size);
  } else {
    ::operator delete(p);  // after the hub (its io_context being torn down) or off its thread
  }
}

void start_inside_io(void (*start)(void*), void* context) {
  hub_impl* h = t_hub;
  if (!h->asio().run_inside(start, context)) return;
  // Completed at once: still let the other ready fibers run first, as a posted completion
  // would. Fairness, and cheaper than it looks: in request/response traffic, a read started
  // right after a reply was sent finds nothing yet, and Asio's speculative recv() is a failed
  // system call (measured: 1.97 recvfrom per echo round trip without this yield, 1.46 with
  // the old trip through the loop). Not interruptible: the operation's result must be
  // delivered; a kill or timeout stays pending for the next wait.
  int saved_errno = errno;
  h->yield_current(h->running());
  errno = saved_errno;
}

void clear_inside_io(hub_impl* hub, boost::asio::cancellation_slot slot) noexcept {
  hub->asio().clear_inside(slot);
}

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
