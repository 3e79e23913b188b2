// call_soon / call_later: callbacks that run on the hub's own stack, between fibers. Soon ones
// wait in a FIFO the loop drains; later ones sit in the timer heap. Handles share the node.
#include <utility>

#include <grove/hub.hpp>

#include "core/hub_impl.hpp"

namespace grove::detail {

void release(callback_node* node) noexcept {
  if (--node->refs == 0) delete node;
}

namespace {
/// Runs a callback unless cancelled, then drops the reference of the queue or heap it left.
void fire_and_release(callback_node* node) noexcept {
  if (!node->cancelled) {
    node->done = true;
    try {
      node->fn();
    } catch (...) {
      report_callback_exception();
    }
    node->fn = nullptr;  // what it captured goes now, not when the last handle does
  }
  release(node);
}
}  // namespace

void callback_timer_fired(timer_node* t) noexcept {
  fire_and_release(static_cast<callback_node*>(t));
}

callback_handle hub_impl::call_soon(std::function<void()> fn) {
  auto* node = new callback_node;
  node->fn = std::move(fn);
  node->hub = this;
  node->refs = 1;  // the queue's
  if (soon_tail_) {
    soon_tail_->next = node;
  } else {
    soon_head_ = node;
  }
  soon_tail_ = node;
  return callback_handle(node);
}

callback_handle hub_impl::call_later(clock::duration delay, std::function<void()> fn) {
  auto* node = new callback_node;
  node->fn = std::move(fn);
  node->hub = this;
  node->fire = &callback_timer_fired;
  node->when = deadline_after(delay);
  callback_handle handle(node);
  if (node->when != no_deadline) {  // a callback "forever" away lives only in its handles
    arm(*node);
    ++node->refs;  // the heap's (after arm, which may throw)
  }
  return handle;
}

void hub_impl::cancel(callback_node* node) noexcept {
  node->cancelled = true;
  node->fn = nullptr;
  if (node->armed()) {
    disarm(*node);
    release(node);  // the heap's reference
  }
}

void hub_impl::run_callbacks() {
  callback_node* last = soon_tail_;
  while (callback_node* n = soon_head_) {
    soon_head_ = n->next;
    if (!soon_head_) soon_tail_ = nullptr;
    bool was_last = n == last;
    fire_and_release(n);
    if (was_last) break;
  }
}

}  // namespace grove::detail

namespace grove {

callback_handle::callback_handle(detail::callback_node* node) noexcept : node_(node) {
  ++node_->refs;
}
callback_handle::callback_handle(const callback_handle& other) noexcept : node_(other.node_) {
  if (node_) ++node_->refs;
}
callback_handle::callback_handle(callback_handle&& other) noexcept
    : node_(std::exchange(other.node_, nullptr)) {}
callback_handle& callback_handle::operator=(callback_handle other) noexcept {
  std::swap(node_, other.node_);
  return *this;
}
callback_handle::~callback_handle() {
  if (node_) detail::release(node_);
}

bool callback_handle::cancel() noexcept {
  if (!pending()) return false;
  node_->hub->cancel(node_);
  return true;
}

bool callback_handle::pending() const noexcept {
  return node_ && node_->hub && !node_->cancelled && !node_->done;
}

callback_handle call_soon(std::function<void()> fn) {
  return hub::current().call_soon(std::move(fn));
}

}  // namespace grove
