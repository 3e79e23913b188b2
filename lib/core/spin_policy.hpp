// When a hub with fibers waiting on other threads spins before sleeping (hub_impl::
// spin_for_inbox). It knows nothing of hubs or clocks beyond the times it is given, so it is
// tested alone (tests/core/spin_policy_test.cpp).
//
// A thread wake-up costs about as much as a spin's limit, so a peer that answers within it is
// better waited for awake. Spins that keep finding nothing are paused: after `failures_allowed`
// in a row, for `first_pause`, then after each further empty spin for twice as long, up to
// `max_pause` (a hub wastes at most ~3% of its time that way). The pause is measured in time, not
// in sleeps: a hub that sleeps once a message would otherwise stay paused for as many messages.
//
// One exception: when an answer is expected (the hub was woken by another thread and has since
// woken a fiber of another hub: a request served, a pipeline stage passed on) it spins even while
// paused. Two hubs in a ping-pong that both paused (the host took a vCPU away for a while, so
// every spin failed) otherwise stay paused: each message then waits for a thread wake-up, which
// takes longer than a spin, so each hub's later spins fail too and the pair never comes back
// (bench/RESULTS.md, "Spin pauses by time"). Those spins pay only if the peer answers: after
// `failures_allowed` of them in a row find nothing, they stop, until a sleep is ended by another
// thread's wake within `first_pause` (a spin a little longer would have caught it: a peer that
// answers fast again after a few slow answers) or the pause's own end. A peer that answers
// later than that (a steady producer of another hub) costs at most those few spins.
//
// On a machine with more runnable threads than CPUs a spin does not pay at all: it burns the
// time slice the peer (or another program) needs, and a sleeping hub is woken sooner than a
// spinning one is scheduled again. An empty spin during which the kernel preempted the hub's
// thread (the hub reads its involuntary context switches then) pauses spinning for
// `preempted_pause`, expected answers included, until a spin finds work again. Without that
// rule, expected answers made a ping-pong between two hubs sharing their CPUs with two busy
// loops ~1.4x slower than before; with it the two are even (bench/RESULTS.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <grove/detail/deadline.hpp>

namespace grove::detail {

class spin_policy {
 public:
  /// The longest spin: about what a thread wake-up costs on these VMs.
  static constexpr auto limit = std::chrono::microseconds(30);
  static constexpr std::uint32_t failures_allowed = 4;
  static constexpr clock::duration first_pause = 2 * limit;
  static constexpr clock::duration max_pause = std::chrono::milliseconds(1);
  /// The pause after an empty spin that saw the thread preempted (CPUs oversubscribed).
  static constexpr clock::duration preempted_pause = std::chrono::milliseconds(10);

  /// Whether to spin now; `answer_expected` as above.
  bool should_spin(time_point now, bool answer_expected) noexcept {
    expecting_ = answer_expected && answer_misses_ < failures_allowed;
    return expecting_ || now >= again_at_;
  }
  /// The spin found work: spinning pays again.
  void found() noexcept {
    failures_ = 0;
    preempted_ = false;
    answer_misses_ = 0;
    pause_ = clock::duration::zero();
    again_at_ = time_point{};
  }
  /// The spin ended at `now` with nothing found. `preempted`: the kernel took the CPU from the
  /// hub's thread since the last empty spin (more runnable threads than CPUs): spinning then
  /// only delays the peer, so pause for the longest, expected answers included.
  void found_nothing(time_point now, bool preempted = false) noexcept {
    if (preempted) {
      failures_ = 0;
      answer_misses_ = failures_allowed;
      preempted_ = true;
      pause_ = max_pause;
      again_at_ = now + preempted_pause;
      return;
    }
    if (expecting_) ++answer_misses_;
    if (pause_ == clock::duration::zero() && ++failures_ < failures_allowed) return;
    failures_ = 0;
    pause_ = pause_ == clock::duration::zero() ? first_pause : std::min(2 * pause_, max_pause);
    again_at_ = now + pause_;
  }
  /// Whether woken_after() can change anything (the hub reads the clock around its sleeps only
  /// then: a clock read costs ~26 ns here).
  bool wants_sleep_time() const noexcept {
    return answer_misses_ >= failures_allowed && !preempted_;
  }
  /// A sleep was ended by another thread's wake after `slept`.
  void woken_after(clock::duration slept) noexcept {
    if (slept < first_pause && !preempted_) answer_misses_ = 0;
  }
  /// The current pause (zero: none), for tests.
  clock::duration pause() const noexcept { return pause_; }

 private:
  std::uint32_t failures_ = 0;       ///< empty spins in a row before the first pause
  std::uint32_t answer_misses_ = 0;  ///< empty spins in a row made because an answer was expected
  bool expecting_ = false;           ///< the current spin is one of those
  bool preempted_ = false;           ///< an empty spin saw the thread preempted: no spin pays
  clock::duration pause_{};          ///< the pause after empty spins (0: none), doubling
  time_point again_at_{};            ///< no spin before this, unless an answer is expected
};

}  // namespace grove::detail
