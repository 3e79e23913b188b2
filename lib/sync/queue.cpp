#include <grove/queue.hpp>

namespace grove::detail {

void throw_queue_closed(bool putting) {
  throw queue_closed(putting ? "grove::queue: put on a closed queue"
                             : "grove::queue: get on a closed queue that has been drained");
}

std::size_t checked_queue_capacity(std::size_t capacity) {
  if (capacity == 0) {
    throw error(
        "grove::queue: capacity must be at least 1 (for a rendezvous between fibers, use "
        "grove::channel<T>)");
  }
  return capacity;
}

}  // namespace grove::detail
