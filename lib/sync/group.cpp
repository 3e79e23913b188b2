#include <grove/group.hpp>

#include <grove/detail/handoff.hpp>

namespace grove::detail {

group_core::~group_core() {
  for (group_member* member = head_; member; member = member->next) member->group = nullptr;
}

group_member* group_core::enter() {
  // A spawn waits for a kill() in progress to end, or kill() would have to kill newcomers
  // forever while someone keeps spawning: a killed dispatcher still running towards its next
  // suspension (a non-empty queue's get() and a free slot never suspend), or anybody else.
  // Members are exempt: a member spawning while it unwinds from that kill would otherwise wait
  // for a kill() that waits for it; so are hub callbacks, which cannot wait. adopt() kills
  // what they spawn.
  for (;;) {
    while (killers_ > 0 && !exempt_from_kill_wait()) {
      kill_done_.wait(no_deadline, {wait_kind::group, reinterpret_cast<std::uintptr_t>(this)});
    }
    if (limit_ == unlimited) break;
    slots_.acquire();  // a kill or timeout here takes no slot
    if (killers_ == 0 || exempt_from_kill_wait()) break;
    slots_.release();  // a kill() began while this waited for the slot: let it end first
  }
  group_member* member;
  try {
    member = new group_member;
  } catch (...) {
    if (limit_ != unlimited) slots_.release();
    throw;
  }
  member->group = this;
  member->next = head_;
  if (head_) head_->prev = member;
  head_ = member;
  ++size_;
  return member;
}

void group_core::leave(group_member* member) noexcept {
  if (group_core* group = member->group) {
    if (member->prev) {
      member->prev->next = member->next;
    } else {
      group->head_ = member->next;
    }
    if (member->next) member->next->prev = member->prev;
    --group->size_;
    if (group->limit_ != unlimited) group->slots_.release();  // hands the slot to a waiter
    std::uint64_t id = member->fiber ? member->fiber->id : 0;
    while (wait_node* waiter = group->exits_.pop_waiting()) {
      if (waiter->payload) *static_cast<std::uint64_t*>(waiter->payload) = id;
      hand_off(*waiter, handoff::done);
    }
  }
  delete member;
}

bool group_core::join_until(time_point deadline) {
  while (size_ > 0) {
    if (deadline_passed(deadline)) return false;
    if (!exits_.wait(deadline, {wait_kind::group, reinterpret_cast<std::uintptr_t>(this)})) {
      return size_ == 0;
    }
  }
  return true;
}

void group_core::adopt(group_member* member, fiber_base* fiber) noexcept {
  member->fiber = fiber;
  if (killers_ > 0) detail::kill(fiber);
}

bool group_core::exempt_from_kill_wait() const noexcept {
  const fiber_base* fiber = current_fiber();
  if (!fiber) return true;
  for (group_member* member = head_; member; member = member->next) {
    if (member->fiber == fiber) return true;
  }
  return false;
}

void group_core::kill() {
  ++killers_;  // holds spawn() back (see enter)
  struct done_killing {
    group_core& group;
    ~done_killing() {
      if (--group.killers_ == 0) group.kill_done_.notify_all();
    }
  } guard{*this};
  for (group_member* member = head_; member;) {
    group_member* next = member->next;  // killing an unstarted fiber may free `member`
    if (member->fiber) detail::kill(member->fiber);
    member = next;
  }
  join_until(no_deadline);
}

std::uint64_t group_core::wait_any_until(time_point deadline) {
  if (size_ == 0 || deadline_passed(deadline)) return 0;
  std::uint64_t id = 0;
  wait_node node;
  node.payload = &id;
  exits_.push_back(node);
  suspend(deadline, {wait_kind::group, reinterpret_cast<std::uintptr_t>(this)});
  return id;
}

std::size_t group_core::free_slots() const noexcept {
  return limit_ == unlimited ? unlimited : slots_.available();
}

}  // namespace grove::detail
