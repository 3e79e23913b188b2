// The hub's timers: one timer_heap of sleeps, wait deadlines, scoped timeouts and call_later
// callbacks, fired by the hub loop, and one Asio steady_timer armed at the earliest of them
// when the hub is about to sleep.
#include <grove/error.hpp>

#include "core/hub_impl.hpp"

namespace grove::detail {

void arm_timer(timer_node& node) {
  hub_impl* h = t_hub;
  if (!h) throw error("grove: timers need a running hub (grove::run)");
  h->arm(node);
}

void disarm_timer(timer_node& node) noexcept {
  if (node.armed() && t_hub) t_hub->disarm(node);
}

// The heap never grows under a noexcept suspension: every live fiber has at most one deadline
// armed (its own `deadline` node), so keeping room for one per live fiber beyond the other
// timers, reserved where throwing is allowed (spawn, timeouts, call_later), is enough.
void hub_impl::reserve_timers(std::size_t extra) {
  timers_.reserve(timers_.size() + live_count_ + extra);
}

void hub_impl::arm(timer_node& node) {
  reserve_timers(1);
  insert_timer(node);
}

void hub_impl::arm_deadline(timer_node& node) noexcept { insert_timer(node); }

void hub_impl::insert_timer(timer_node& node) noexcept { timers_.insert(node); }

void hub_impl::disarm(timer_node& node) noexcept {
  if (node.armed()) timers_.remove(node);
}

void hub_impl::arm_asio_timer_for_sleep() {
  // The loop fires due timers itself (fire_due_timers); Asio's timer only has to end a sleep.
  // Re-armed only when the earliest deadline changed since it was last armed: 1M sleepers
  // spent 8% of their time in timerfd_settime when every new earliest deadline and every fire
  // re-armed it.
  if (timers_.empty()) {
    // Leave no pending wait behind: an idle hub must be able to tell it is deadlocked.
    if (asio_timer_at_ != no_deadline) {
      asio_timer_at_ = no_deadline;
      asio_timer_.cancel();
    }
    return;
  }
  // Timer slack, as the kernel gives a sleeping thread (50 µs by default): a sleeping hub
  // wakes at the end of the slack cell holding its earliest deadline, so deadlines in one cell
  // end one sleep and the timerfd is re-armed at most once a cell, not once a deadline. A
  // timerfd_settime costs ~3.5 µs on a VM: 43% of a hub's CPU with 100k sleepers a second
  // starting and ending (bench/RESULTS.md, "Timer slack"). Never early; at most one cell late,
  // and only when the hub was asleep (a running hub fires due timers on every loop pass).
  time_point top = timers_.top_when();
  time_point wake = top;
  if (top.time_since_epoch() < clock::duration::max() - timer_slack) {  // no overflow
    wake = time_point{(top.time_since_epoch() + timer_slack - clock::duration(1)) / timer_slack *
                      timer_slack};
  }
  if (wake == asio_timer_at_) return;
  asio_timer_at_ = wake;
  asio_timer_.expires_at(wake);
  asio_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // superseded by a later expires_at / cancel
    asio_timer_at_ = no_deadline;
    fire_timers();
  });
}

void hub_impl::fire_timers() noexcept {
  time_point now = clock::now();
  std::size_t budget = timers_.size();  // nodes armed by a fire() run in the next round
  while (budget-- > 0 && !timers_.empty() && timers_.top_when() <= now) {
    timer_node* node = timers_.top();
    timers_.remove(*node);
    node->fire(node);
  }
}

}  // namespace grove::detail
