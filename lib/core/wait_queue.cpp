#include <grove/detail/fiber_base.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove::detail {

wait_node::wait_node() noexcept : fiber(current_fiber()) {}

void wait_node::renew() noexcept {
  if (fiber) suspension = fiber->suspension;
}

namespace {
/// Records what a woken waiter reads in its error. In the fiber's rarely used part, made now if
/// need be; without memory for it, the error names "a grove primitive".
void set_abandoned_by(fiber_base* f, const char* owner) noexcept {
  try {
    f->extras().abandoned_by = owner;
  } catch (...) {
  }
}
}  // namespace

wait_queue::~wait_queue() {
  // Nodes of fibers already woken by something else are stale: unlink them only. A node lives on
  // its fiber's stack and unlinks itself when that unwinds, so every fiber here is still alive.
  while (wait_node* node = pop_waiting()) {
    set_abandoned_by(node->fiber, owner());
    wake(node->token(), wake_reason::abandoned);
  }
}

void wait_queue::push_back(wait_node& node) noexcept {
  node.renew();
  node.queue = this;
  node.next = nullptr;
  node.prev = tail_;
  if (tail_) {
    tail_->next = &node;
  } else {
    head_ = &node;
  }
  tail_ = &node;
  ++size_;
}

void wait_queue::remove(wait_node& node) noexcept {
  if (node.prev) {
    node.prev->next = node.next;
  } else {
    head_ = node.next;
  }
  if (node.next) {
    node.next->prev = node.prev;
  } else {
    tail_ = node.prev;
  }
  node.prev = node.next = nullptr;
  node.queue = nullptr;
  --size_;
}

wait_node* wait_queue::pop_waiting() noexcept {
  while (wait_node* node = head_) {
    remove(*node);
    if (!node->remote && !is_waiting(node->token())) continue;
    // Another case of the same multi-wait was served first (on this or another thread).
    if (node->claim && node->claim->exchange(1, std::memory_order_acq_rel) != 0) continue;
    return node;
  }
  return nullptr;
}

bool wait_queue::notify_one() noexcept {
  wait_node* node = pop_waiting();
  if (!node) return false;
  node->status = served;
  wake_node(*node);
  return true;
}

std::size_t wait_queue::notify_all() noexcept {
  std::size_t woken = 0;
  while (notify_one()) ++woken;
  return woken;
}

bool wait_queue::wait(time_point deadline, waiting_on on) {
  if (on.kind == wait_kind::unknown) on.kind = kind_;
  wait_node node;
  push_back(node);
  for (;;) {
    wake_reason why = suspend(deadline, on);
    if (node.status == served) return true;
    if (why != wake_reason::notified) return false;
    // Woken, yet nothing was handed over: not this wait's wake. Wait on.
    if (node.linked()) {
      node.renew();
    } else {
      push_back(node);
    }
  }
}

}  // namespace grove::detail
