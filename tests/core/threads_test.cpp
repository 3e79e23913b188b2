// Hubs are per thread: two threads each running grove::run do not interfere.
#include <grove/grove.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("two threads each run their own hub at the same time") {
  auto work = [](int base, long long& out, std::vector<std::uint64_t>& ids) {
    out = grove::run([&] {
      std::vector<grove::fiber<long long>> fibers;
      for (int i = 0; i < 200; ++i) {
        fibers.push_back(grove::spawn([base, i] {
          grove::this_fiber::sleep_for(std::chrono::milliseconds(i % 5));
          grove::this_fiber::yield();
          return static_cast<long long>(base + i);
        }));
      }
      long long sum = 0;
      for (auto& f : fibers) {
        sum += f.get();
        ids.push_back(f.id());
      }
      grove::timeout t(20ms);
      try {
        grove::this_fiber::sleep_for(1s);
      } catch (const grove::timeout_error& e) {
        if (!e.from(t)) throw;
      }
      return sum;
    });
  };
  long long a = 0, b = 0;
  std::vector<std::uint64_t> ids_a, ids_b;
  std::thread ta(work, 0, std::ref(a), std::ref(ids_a));
  std::thread tb(work, 1000, std::ref(b), std::ref(ids_b));
  ta.join();
  tb.join();
  long long expected_a = 0, expected_b = 0;
  for (int i = 0; i < 200; ++i) {
    expected_a += i;
    expected_b += 1000 + i;
  }
  CHECK(a == expected_a);
  CHECK(b == expected_b);
  for (auto id : ids_a) CHECK(std::find(ids_b.begin(), ids_b.end(), id) == ids_b.end());
}

TEST_CASE("a thread can run grove::run again after the previous run ended") {
  for (int i = 0; i < 3; ++i) CHECK(grove::run([i] { return i; }) == i);
}
