#include "core/timer_heap.hpp"

#include <algorithm>

namespace grove::detail {

void timer_heap::reserve(std::size_t total) {
  if (nodes_.capacity() < total) nodes_.reserve(std::max(total, 2 * nodes_.capacity()));
}

void timer_heap::insert(timer_node& node) noexcept {
  if (node.armed()) remove(node);
  if (node.when == no_deadline) return;  // "forever": nothing to fire
  node.sequence = ++sequence_;
  nodes_.push_back(&node);  // within the capacity reserve() made
  up(static_cast<std::uint32_t>(nodes_.size() - 1));
}

void timer_heap::remove(timer_node& node) noexcept {
  std::uint32_t i = node.heap_index;
  node.heap_index = timer_node::not_armed;
  timer_node* last = nodes_.back();
  nodes_.pop_back();
  if (last != &node) {
    nodes_[i] = last;
    last->heap_index = i;
    up(i);
    down(last->heap_index);
  }
}

void timer_heap::up(std::uint32_t i) noexcept {
  timer_node* node = nodes_[i];
  while (i > 0) {
    std::uint32_t parent = (i - 1) / 2;
    if (!less(node, nodes_[parent])) break;
    nodes_[i] = nodes_[parent];
    nodes_[i]->heap_index = i;
    i = parent;
  }
  nodes_[i] = node;
  node->heap_index = i;
}

void timer_heap::down(std::uint32_t i) noexcept {
  timer_node* node = nodes_[i];
  auto n = static_cast<std::uint32_t>(nodes_.size());
  for (;;) {
    std::uint32_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && less(nodes_[child + 1], nodes_[child])) ++child;
    if (!less(nodes_[child], node)) break;
    nodes_[i] = nodes_[child];
    nodes_[i]->heap_index = i;
    i = child;
  }
  nodes_[i] = node;
  node->heap_index = i;
}

}  // namespace grove::detail
