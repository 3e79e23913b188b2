// The timer heap alone: no hub, no fibers, no Asio.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "core/timer_heap.hpp"

using grove::detail::no_deadline;
using grove::detail::time_point;
using grove::detail::timer_heap;
using grove::detail::timer_node;

namespace {
time_point at(int ms) { return time_point{} + std::chrono::milliseconds(ms); }

std::vector<timer_node*> drain(timer_heap& heap) {
  std::vector<timer_node*> order;
  while (!heap.empty()) {
    timer_node* top = heap.top();
    heap.remove(*top);
    CHECK_FALSE(top->armed());
    order.push_back(top);
  }
  return order;
}
}  // namespace

TEST_CASE("timers come out earliest first, equal deadlines in arming order") {
  timer_heap heap;
  std::vector<timer_node> nodes(6);
  int when[] = {30, 10, 20, 10, 5, 20};
  heap.reserve(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].when = at(when[i]);
    heap.insert(nodes[i]);
    CHECK(nodes[i].armed());
  }
  std::vector<timer_node*> expected = {&nodes[4], &nodes[1], &nodes[3],
                                       &nodes[2], &nodes[5], &nodes[0]};
  CHECK(drain(heap) == expected);
}

TEST_CASE("a node at no_deadline is never armed, and re-inserting moves an armed node") {
  timer_heap heap;
  heap.reserve(2);
  timer_node forever, moved;
  heap.insert(forever);
  CHECK_FALSE(forever.armed());
  CHECK(heap.empty());
  moved.when = at(50);
  heap.insert(moved);
  moved.when = at(1);
  heap.insert(moved);  // moved, not duplicated
  CHECK(heap.size() == 1);
  CHECK(heap.top() == &moved);
}

TEST_CASE("removing from the middle keeps the order, against a sorted reference (seeded)") {
  std::mt19937 rng(12345);
  constexpr int count = 2000;
  std::vector<timer_node> nodes(count);
  timer_heap heap;
  heap.reserve(count);
  for (auto& n : nodes) {
    n.when = at(static_cast<int>(rng() % 500));  // many ties
    heap.insert(n);
  }
  std::vector<timer_node*> kept;
  for (auto& n : nodes) {
    if (rng() % 3 == 0) {
      heap.remove(n);
    } else {
      kept.push_back(&n);
    }
  }
  std::stable_sort(kept.begin(), kept.end(),
                   [](const timer_node* a, const timer_node* b) { return a->when < b->when; });
  CHECK(drain(heap) == kept);
}

TEST_CASE("reserve makes room ahead, so inserts within it never reallocate") {
  timer_heap heap;
  heap.reserve(100);
  std::size_t capacity = heap.capacity();
  CHECK(capacity >= 100);
  std::vector<timer_node> nodes(100);
  for (auto& n : nodes) {
    n.when = at(1);
    heap.insert(n);
  }
  CHECK(heap.capacity() == capacity);
  std::size_t seen = 0;
  heap.clear([&](timer_node* n) {
    CHECK_FALSE(n->armed());
    ++seen;
  });
  CHECK(seen == 100);
  CHECK(heap.empty());
}
