// Promises of <grove/fiber.hpp>: spawn, join, get, kill, ids and names, yield and sleep.
#include <grove/fiber.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}
}  // namespace

TEST_CASE("run returns the main fiber's value") {
  CHECK(grove::run([] { return 42; }) == 42);
  CHECK(grove::run([] { return std::string("grove"); }) == "grove");
}

TEST_CASE("run rethrows the main fiber's exception") {
  CHECK_THROWS_WITH_AS(grove::run([]() -> int { throw std::runtime_error("boom"); }), "boom",
                       std::runtime_error);
}

TEST_CASE("run inside a running hub is a clear error") {
  grove::run([] {
    CHECK_THROWS_AS(grove::run([] { return 1; }), grove::error);
  });
}

TEST_CASE("spawn runs a function with arguments and get returns its value") {
  int r = grove::run([] {
    auto f = grove::spawn([](int a, int b) { return a + b; }, 2, 3);
    CHECK(f.valid());
    CHECK_FALSE(f.ready());
    return f.get();
  });
  CHECK(r == 5);
}

TEST_CASE("get rethrows the fiber's exception, every time") {
  grove::run([] {
    auto f = grove::spawn([]() -> int { throw std::logic_error("bad"); });
    CHECK_THROWS_WITH_AS(f.get(), "bad", std::logic_error);
    CHECK_THROWS_AS(f.get(), std::logic_error);
    CHECK(f.ready());
  });
}

TEST_CASE("spawn options set the name; ids are unique") {
  grove::run([] {
    auto a = grove::spawn({.name = "worker", .stack_size = 64 * 1024},
                          [] { return std::string(grove::this_fiber::name()); });
    auto b = grove::spawn([] { return grove::this_fiber::id(); });
    CHECK(a.name() == "worker");
    CHECK(a.get() == "worker");
    CHECK(b.get() == b.id());
    CHECK(a.id() != b.id());
    CHECK(grove::this_fiber::name() == "main");
  });
}

TEST_CASE("spawn from a fiber and from a callback") {
  grove::run([] {
    std::vector<int> order;
    auto outer = grove::spawn([&] {
      auto inner = grove::spawn([&] { order.push_back(2); });
      order.push_back(1);
      inner.join();
      order.push_back(3);
    });
    outer.join();
    CHECK(order == std::vector<int>{1, 2, 3});

    grove::fiber<int> from_callback;
    grove::call_soon([&] { from_callback = grove::spawn([] { return 7; }); });
    grove::this_fiber::yield();  // alone in the ready queue: the hub runs its callbacks
    REQUIRE(from_callback.valid());
    CHECK(from_callback.get() == 7);
  });
}

TEST_CASE("a fiber killed before it starts releases what its function captured at once") {
  grove::run([] {
    auto resource = std::make_shared<int>(1);
    std::weak_ptr<int> watch = resource;
    auto f = grove::spawn([r = std::move(resource)] { return *r; });
    f.kill();
    f.join();  // the handle is still held: the block lives, its callable must not
    CHECK(watch.expired());
    CHECK_THROWS_AS(f.get(), grove::killed_error);
  });
}
