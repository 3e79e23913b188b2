// The hub's timers: a binary min-heap of intrusive timer_nodes ordered by deadline, then by
// arming order. It knows nothing of fibers, Asio or the hub, so it is tested alone
// (tests/core/timer_heap_test.cpp); the hub decides when to reserve and what firing means.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <grove/detail/timer_node.hpp>

namespace grove::detail {

class timer_heap {
 public:
  bool empty() const noexcept { return nodes_.empty(); }
  std::size_t size() const noexcept { return nodes_.size(); }
  std::size_t capacity() const noexcept { return nodes_.capacity(); }
  /// The earliest node (ties: the first armed). Precondition: not empty.
  timer_node* top() const noexcept { return nodes_.front(); }

  /// Makes room for `total` nodes (growing geometrically), so that inserting up to that many
  /// never allocates. May throw std::bad_alloc; the only call that allocates.
  void reserve(std::size_t total);
  /// Inserts `node` (moving it if already armed) at node.when; a node at no_deadline is left
  /// disarmed. Precondition: size() < capacity() unless the node was armed already.
  void insert(timer_node& node) noexcept;
  /// Takes an armed `node` out of the heap.
  void remove(timer_node& node) noexcept;
  /// Disarms every node and calls `each(node)` for each, in no particular order.
  template <class F>
  void clear(F&& each) noexcept {
    std::vector<timer_node*> nodes;
    nodes.swap(nodes_);
    for (timer_node* n : nodes) {
      n->heap_index = timer_node::not_armed;
      each(n);
    }
  }

 private:
  static bool less(const timer_node* a, const timer_node* b) noexcept {
    return a->when < b->when || (a->when == b->when && a->sequence < b->sequence);
  }
  void up(std::uint32_t i) noexcept;
  void down(std::uint32_t i) noexcept;

  std::vector<timer_node*> nodes_;
  std::uint64_t sequence_ = 0;
};

}  // namespace grove::detail
