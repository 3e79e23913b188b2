// Promises of <grove/signal.hpp>: a fiber waiting for signals gets the number of the one that
// arrives; kill and scoped timeouts end the wait like every grove wait; several hubs each get it.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/signal.hpp>  // first: the header is self-contained
#include <thread>

#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("a fiber waiting for a signal gets its number when the process raises it") {
  grove::run([] {
    int got = 0;
    auto waiter = grove::spawn([&] { got = grove::wait_signal({SIGUSR1}); });
    grove::this_fiber::yield();  // the waiter is now inside its wait
    CHECK(got == 0);
    REQUIRE(::raise(SIGUSR1) == 0);
    grove::timeout t(5s);
    waiter.join();
    CHECK(got == SIGUSR1);
  });
}

TEST_CASE("wait_signal returns whichever of its signals arrives, sent with kill(getpid())") {
  grove::run([] {
    int got = 0;
    auto waiter = grove::spawn([&] { got = grove::wait_signal({SIGUSR1, SIGUSR2}); });
    grove::this_fiber::yield();
    REQUIRE(::kill(::getpid(), SIGUSR2) == 0);
    grove::timeout t(5s);
    waiter.join();
    CHECK(got == SIGUSR2);
  });
}

TEST_CASE("other fibers keep running while one waits for a signal") {
  grove::run([] {
    int got = 0;
    auto waiter = grove::spawn([&] { got = grove::wait_signal({SIGUSR1}); });
    int ticks = 0;
    for (int i = 0; i < 3; ++i) {
      grove::this_fiber::sleep_for(5ms);
      ++ticks;
    }
    CHECK(ticks == 3);
    CHECK(got == 0);
    ::raise(SIGUSR1);
    grove::timeout t(5s);
    waiter.join();
    CHECK(got == SIGUSR1);
  });
}

TEST_CASE("kill ends a signal wait and the fiber unwinds") {
  grove::run([] {
    bool unwound = false;
    bool returned = false;
    auto waiter = grove::spawn([&] {
      struct guard {
        bool& flag;
        ~guard() { flag = true; }
      } g{unwound};
      grove::wait_signal({SIGUSR1});
      returned = true;
    });
    grove::this_fiber::yield();
    waiter.kill();
    grove::timeout t(5s);
    waiter.join();
    CHECK(unwound);
    CHECK_FALSE(returned);
    bool killed = grove_test::throws<grove::killed_error>([&] { waiter.get(); });
    CHECK(killed);
  });
}

TEST_CASE("a scoped timeout ends a signal wait; wait_signal_for gives up with nullopt") {
  grove::run([] {
    auto start = std::chrono::steady_clock::now();
    bool timed_out = grove_test::throws<grove::timeout_error>(
        [] { grove::with_timeout(50ms, [] { return grove::wait_signal({SIGUSR1}); }); });
    CHECK(timed_out);
    std::optional<int> got = grove::wait_signal_for({SIGUSR1}, 50ms);
    CHECK_FALSE(got.has_value());
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= 100ms);
    CHECK(elapsed < 2s);
  });
}

TEST_CASE("wait_signal_for returns the signal that arrives in time") {
  grove::run([] {
    std::optional<int> got;
    auto waiter = grove::spawn([&] { got = grove::wait_signal_for({SIGUSR2}, 10s); });
    grove::this_fiber::yield();
    ::raise(SIGUSR2);
    grove::timeout t(5s);
    waiter.join();
    CHECK(got == SIGUSR2);
  });
}

TEST_CASE("a signal that cannot be caught, an empty list and a call outside a fiber are errors") {
  bool refused = grove_test::throws<grove::error>([] { grove::wait_signal({SIGUSR1}); });
  CHECK(refused);
  grove::run([] {
    std::exception_ptr error =
        grove_test::thrown<grove::error>([] { grove::wait_signal({SIGKILL}); });
    CHECK_THROWS_WITH_AS(grove_test::rethrow(error), doctest::Contains("cannot be caught"),
                         grove::error);
    bool invalid = grove_test::throws<grove::error>([] { grove::wait_signal({0}); });
    CHECK(invalid);
    invalid = grove_test::throws<grove::error>([] { grove::wait_signal({SIGINT, 100000}); });
    CHECK(invalid);
    invalid = grove_test::throws<grove::error>([] { grove::wait_signal({}); });
    CHECK(invalid);
  });
}

TEST_CASE("fibers on two hubs (threads) waiting for the same signal both get it") {
  // A set nobody waits on keeps SIGUSR1 caught for the whole test, so a signal sent before both
  // hubs wait cannot end the process; it is sent again until both have it (bounded).
  boost::asio::io_context keeper_io;
  boost::asio::signal_set keeper(keeper_io, SIGUSR1);
  std::atomic<int> received{0};
  auto hub_thread = [&] {
    grove::run([&] {
      if (grove::wait_signal_for({SIGUSR1}, 10s) == SIGUSR1) ++received;
    });
  };
  std::thread a(hub_thread), b(hub_thread);
  for (int i = 0; i < 1000 && received.load() < 2; ++i) {
    ::kill(::getpid(), SIGUSR1);
    std::this_thread::sleep_for(5ms);
  }
  a.join();
  b.join();
  CHECK(received.load() == 2);
}
