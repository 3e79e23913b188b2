// The hub's spin policy alone: no hub, no threads, times given by the test.
#include <doctest/doctest.h>

#include <chrono>

#include "core/spin_policy.hpp"

using grove::detail::spin_policy;
using grove::detail::time_point;
using std::chrono::microseconds;

namespace {
time_point at_us(long us) { return time_point{} + microseconds(us); }

/// `count` empty spins, each ending at `now` (the policy is asked first, as the hub does).
void fail(spin_policy& policy, int count, time_point now) {
  for (int i = 0; i < count; ++i) {
    if (policy.should_spin(now, false)) policy.found_nothing(now);
  }
}
}  // namespace

TEST_CASE("a few empty spins in a row are allowed, then spinning pauses for a while") {
  spin_policy policy;
  fail(policy, spin_policy::failures_allowed - 1, at_us(1000));
  CHECK(policy.pause() == microseconds(0));
  CHECK(policy.should_spin(at_us(1000), false));
  policy.found_nothing(at_us(1000));
  CHECK(policy.pause() == spin_policy::first_pause);
  CHECK_FALSE(policy.should_spin(at_us(1000) + spin_policy::first_pause - microseconds(1), false));
  CHECK(policy.should_spin(at_us(1000) + spin_policy::first_pause, false));
}

TEST_CASE("the pause ends by time, however often the hub sleeps meanwhile") {
  spin_policy policy;
  fail(policy, spin_policy::failures_allowed, at_us(0));
  // A thousand sleeps inside the pause never spin; the first one after it does.
  for (int i = 0; i < 1000; ++i) {
    CHECK_FALSE(policy.should_spin(at_us(0) + microseconds(59), false));
  }
  CHECK(policy.should_spin(at_us(0) + spin_policy::first_pause, false));
}

TEST_CASE("each further empty spin doubles the pause, up to the longest") {
  spin_policy policy;
  fail(policy, spin_policy::failures_allowed, at_us(0));
  auto expected = spin_policy::first_pause;
  long now = 0;
  for (int round = 0; round < 10; ++round) {
    now += 2000;  // past any pause
    REQUIRE(policy.should_spin(at_us(now), false));
    policy.found_nothing(at_us(now));
    expected = std::min(2 * expected, spin_policy::max_pause);
    CHECK(policy.pause() == expected);
  }
  CHECK(policy.pause() == spin_policy::max_pause);
}

TEST_CASE("a spin that finds work ends the pause") {
  spin_policy policy;
  fail(policy, 3 * spin_policy::failures_allowed, at_us(0));
  REQUIRE(policy.pause() != microseconds(0));
  REQUIRE(policy.should_spin(at_us(0), true));  // an answer is expected: see below
  policy.found();
  CHECK(policy.pause() == microseconds(0));
  CHECK(policy.should_spin(at_us(0), false));
}

TEST_CASE("an expected answer is spun for even while paused, until such spins keep failing") {
  spin_policy policy;
  fail(policy, spin_policy::failures_allowed, at_us(0));
  REQUIRE_FALSE(policy.should_spin(at_us(1), false));
  // Two paused hubs in a ping-pong: each, woken by the other and having answered, spins.
  for (std::uint32_t i = 0; i < spin_policy::failures_allowed; ++i) {
    CHECK(policy.should_spin(at_us(1), true));
    policy.found_nothing(at_us(1));
  }
  // The peer never answers in time: those spins stop; the pause's end still brings one back.
  CHECK_FALSE(policy.should_spin(at_us(1), true));
  CHECK(policy.should_spin(at_us(1) + spin_policy::max_pause, true));
  policy.found();
  CHECK(policy.should_spin(at_us(1) + spin_policy::max_pause, true));
}

TEST_CASE("a peer that answers fast again after slow answers is spun for at once") {
  spin_policy policy;
  for (std::uint32_t i = 0; i < 2 * spin_policy::failures_allowed; ++i) {
    if (policy.should_spin(at_us(1), true)) policy.found_nothing(at_us(1));  // slow answers
  }
  REQUIRE_FALSE(policy.should_spin(at_us(1), true));
  // A sleep ended by the peer's answer later than a spin would wait: still no spin.
  policy.woken_after(10 * spin_policy::limit);
  CHECK_FALSE(policy.should_spin(at_us(1), true));
  // One ended soon after the hub went to sleep: the peer answers fast again.
  policy.woken_after(spin_policy::limit + microseconds(5));
  CHECK(policy.should_spin(at_us(1), true));
  CHECK_FALSE(policy.should_spin(at_us(1), false));  // only for an expected answer
}

TEST_CASE("an empty spin that saw the thread preempted stops spinning for the longest pause") {
  spin_policy policy;
  REQUIRE(policy.should_spin(at_us(0), true));
  policy.found_nothing(at_us(0), /*preempted=*/true);
  // More runnable threads than CPUs: a spin only delays the peer, expected answer or not, and a
  // quick wake-up does not bring spinning back.
  CHECK_FALSE(policy.should_spin(at_us(1), true));
  policy.woken_after(microseconds(5));
  CHECK_FALSE(policy.should_spin(at_us(1), true));
  CHECK_FALSE(policy.should_spin(at_us(0) + spin_policy::preempted_pause - microseconds(1), false));
  CHECK(policy.should_spin(at_us(0) + spin_policy::preempted_pause, false));
  policy.found();
  CHECK(policy.should_spin(at_us(1), true));
}
