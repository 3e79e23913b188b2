// The hub's timers: a 4-ary min-heap of intrusive timer_nodes ordered by deadline, then by
// arming order. It knows nothing of fibers, Asio or the hub, so it is tested alone
// (tests/core/timer_heap_test.cpp); the hub decides when to reserve and what firing means.
//
// With a million sleepers the nodes are fiber control blocks spread over 160 MB, and every
// comparison is a cache miss: the binary heap's pop was 7-9% of a 1M-sleeper run. Four
// children a level halve the depth, so half as many dependent misses in a row (a level's four
// loads overlap). Keeping each deadline in its slot would avoid the misses but double the slot,
// 8 more bytes per idle fiber, and idle memory is at its goal with 1 byte to spare.
#pragma once

#include <cstddef>
#include <cstdint>
#include <grove/detail/timer_node.hpp>
#include <vector>

namespace grove::detail {

class timer_heap {
 public:
  bool empty() const noexcept { return nodes_.empty(); }
  std::size_t size() const noexcept { return nodes_.size(); }
  std::size_t capacity() const noexcept { return nodes_.capacity(); }
  /// The earliest node (ties: the first armed). Precondition: not empty.
  timer_node* top() const noexcept { return nodes_.front(); }
  /// The earliest deadline. Precondition: not empty.
  time_point top_when() const noexcept { return nodes_.front()->when; }

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
  static constexpr std::uint32_t arity = 4;
  static bool less(const timer_node* a, const timer_node* b) noexcept {
    return a->when < b->when || (a->when == b->when && a->sequence < b->sequence);
  }
  void place(std::uint32_t i, timer_node* node) noexcept {
    nodes_[i] = node;
    node->heap_index = i;
  }
  void up(std::uint32_t i) noexcept;
  void down(std::uint32_t i) noexcept;

  std::vector<timer_node*> nodes_;
  std::uint64_t sequence_ = 0;
};

}  // namespace grove::detail
