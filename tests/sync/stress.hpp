// Shared by the stress tests of queue, channel and select: random kills while fibers pass
// numbered items, and the exactly-once check at the end. Not part of grove.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <random>
#include <vector>

#include <grove/fiber.hpp>

namespace stress {

/// Seeded randomness, so a failure can be replayed.
struct dice {
  std::mt19937 random;
  /// True `percent` times in 100.
  bool coin(int percent) { return static_cast<int>(random() % 100) < percent; }
};

/// `rounds` times: let every ready fiber take a step, then kill `per_round` fibers picked at
/// random from `a` or `b` (finished ones included: killing them is a no-op).
inline void kill_at_random(dice& d, std::vector<grove::fiber<void>>& a,
                           std::vector<grove::fiber<void>>& b, int rounds, int per_round) {
  for (int round = 0; round < rounds; ++round) {
    grove::this_fiber::yield();
    for (int k = 0; k < per_round; ++k) {
      auto& victims = d.coin(50) ? a : b;
      victims[d.random() % victims.size()].kill();
    }
  }
}

/// Checks that every item was delivered exactly as often as it was sent (once, or never when
/// its sender was killed first); returns how many were sent.
inline int check_exactly_once(const std::vector<int>& sent, const std::vector<int>& delivered) {
  int total = 0;
  for (std::size_t id = 0; id < sent.size(); ++id) {
    REQUIRE(sent[id] <= 1);
    REQUIRE(delivered[id] == sent[id]);
    total += sent[id];
  }
  return total;
}

}  // namespace stress
