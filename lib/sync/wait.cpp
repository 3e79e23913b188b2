#include <grove/wait.hpp>

#include <array>
#include <memory>

namespace grove::detail {
namespace {

/// Wait nodes for one multi-wait: on the stack for a few sources, on the heap for many.
class node_set {
 public:
  explicit node_set(std::size_t count)
      : heap_(count > inline_count ? new wait_node[count] : nullptr),
        nodes_(heap_ ? heap_.get() : local_.data()) {}
  wait_node& operator[](std::size_t i) noexcept { return nodes_[i]; }

 private:
  static constexpr std::size_t inline_count = 8;
  std::array<wait_node, inline_count> local_;
  std::unique_ptr<wait_node[]> heap_;
  wait_node* nodes_;
};

std::size_t first_ready(const wait_source* sources, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (sources[i].ready(sources[i].object)) return i;
  }
  return count;
}

std::size_t first_not_ready(const wait_source* sources, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (!sources[i].ready(sources[i].object)) return i;
  }
  return count;
}

/// Queues a node in every source that is not ready (from `from` on) and suspends once.
wake_reason wait_on(const wait_source* sources, std::size_t from, std::size_t count,
                    time_point deadline) {
  node_set nodes(count);
  for (std::size_t i = from; i < count; ++i) {
    if (sources[i].queue && !sources[i].ready(sources[i].object)) {
      sources[i].queue->push_back(nodes[i]);
    }
  }
  return suspend(deadline, {wait_kind::wait_any, 0});
}

}  // namespace

std::size_t wait_any_until(const wait_source* sources, std::size_t count, time_point deadline) {
  for (;;) {
    std::size_t ready = first_ready(sources, count);
    if (ready != count || count == 0 || deadline_passed(deadline)) return ready;
    if (wait_on(sources, 0, count, deadline) != wake_reason::notified) {
      return first_ready(sources, count);
    }
  }
}

bool wait_all_until(const wait_source* sources, std::size_t count, time_point deadline) {
  for (;;) {
    std::size_t pending = first_not_ready(sources, count);
    if (pending == count) return true;
    if (deadline_passed(deadline)) return false;
    if (wait_on(sources, pending, count, deadline) != wake_reason::notified) {
      return first_not_ready(sources, count) == count;
    }
  }
}

}  // namespace grove::detail
