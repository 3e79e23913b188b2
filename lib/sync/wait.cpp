#include <algorithm>
#include <array>
#include <grove/detail/sync_owner.hpp>
#include <grove/error.hpp>
#include <grove/wait.hpp>
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
  wait_node* data() noexcept { return nodes_; }

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

/// Queues a node in every source that is not ready (from `from` on) and suspends once. With
/// `any`, returns at once if some source is ready (wait_any), else once none is pending.
wake_reason wait_on(const wait_source* sources, std::size_t from, std::size_t count,
                    time_point deadline, bool any) {
  multi_lock locks;
  for (std::size_t i = from; i < count; ++i) {
    if (sources[i].owner) locks.add(*sources[i].owner);
  }
  node_set nodes(count);
  if (!locks.any()) [[likely]] {
    for (std::size_t i = from; i < count; ++i) {
      if (sources[i].queue && !sources[i].ready(sources[i].object)) {
        sources[i].queue->push_back(nodes[i]);
      }
    }
    return suspend(deadline, {wait_kind::wait_any, 0});
  }
  // Some source is shared across threads: check and queue under every shared source's lock
  // (no set() can slip between the two), then wait as grove::select does (multi_lock).
  locks.lock();
  bool queued = false;
  for (std::size_t i = from; i < count; ++i) {
    if (!sources[i].queue || sources[i].ready(sources[i].object)) {
      if (any) break;
      continue;
    }
    sources[i].queue->push_back(nodes[i]);
    queued = true;
  }
  if (!queued || (any && std::any_of(sources + from, sources + count,
                                     [](const wait_source& s) { return s.ready(s.object); }))) {
    for (std::size_t i = from; i < count; ++i) nodes[i].unlink();  // under the locks
    return wake_reason::notified;                                  // the caller looks again
  }
  wake_reason why = locks.wait(nodes.data(), count, deadline, {wait_kind::wait_any, 0}, false);
  locks.unlock();
  raise_for(why);  // killed or timed out (nothing is consumed: nothing to keep)
  return why;
}

}  // namespace

std::size_t wait_any_until(const wait_source* sources, std::size_t count, time_point deadline) {
  for (;;) {
    std::size_t ready = first_ready(sources, count);
    if (ready != count || count == 0 || deadline_passed(deadline)) return ready;
    if (wait_on(sources, 0, count, deadline, true) != wake_reason::notified) {
      return first_ready(sources, count);
    }
  }
}

bool wait_all_until(const wait_source* sources, std::size_t count, time_point deadline) {
  for (;;) {
    std::size_t pending = first_not_ready(sources, count);
    if (pending == count) return true;
    if (deadline_passed(deadline)) return false;
    if (wait_on(sources, pending, count, deadline, false) != wake_reason::notified) {
      return first_not_ready(sources, count) == count;
    }
  }
}

}  // namespace grove::detail
