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
    place(i, last);
    up(i);
    down(last->heap_index);
  }
}

void timer_heap::up(std::uint32_t i) noexcept {
  timer_node* s = nodes_[i];
  while (i > 0) {
    std::uint32_t parent = (i - 1) / arity;
    if (!less(s, nodes_[parent])) break;
    place(i, nodes_[parent]);
    i = parent;
  }
  place(i, s);
}

void timer_heap::down(std::uint32_t i) noexcept {
  timer_node* s = nodes_[i];
  auto n = static_cast<std::uint32_t>(nodes_.size());
  for (;;) {
    std::uint32_t first = arity * i + 1;
    if (first >= n) break;
    std::uint32_t end = first + arity < n ? first + arity : n;
    std::uint32_t best = first;
    for (std::uint32_t c = first + 1; c < end; ++c) {
      if (less(nodes_[c], nodes_[best])) best = c;
    }
    if (!less(nodes_[best], s)) break;
    place(i, nodes_[best]);
    i = best;
  }
  place(i, s);
}

}  // namespace grove::detail
