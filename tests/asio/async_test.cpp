// Promises of <grove/async.hpp>: coroutines (asio::awaitable) and callbacks on the hub wait for
// fibers, events, futures and channels; cancellation kills the helper; a pending coroutine keeps
// the hub from reporting a deadlock.
#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <grove/async.hpp>  // first: the header is self-contained
#include <grove/grove.hpp>
#include <grove/use_fiber.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../throws.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {
asio::io_context& hub_io() { return grove::hub::current().io_context(); }

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}
}  // namespace

TEST_CASE("a coroutine joins a fiber and gets its value") {
  grove::run([] {
    auto worker = grove::spawn([] {
      grove::this_fiber::sleep_for(20ms);
      return 6 * 7;
    });
    auto watcher = [](grove::fiber<int> f) -> asio::awaitable<int> {
      co_await grove::async_join(f, asio::use_awaitable);
      CHECK(f.ready());
      co_return co_await grove::async_get(f, asio::use_awaitable);
    };
    int got = asio::co_spawn(hub_io(), watcher(worker), grove::use_fiber);
    CHECK(got == 42);
  });
}

TEST_CASE("a coroutine gets a fiber's exception from async_get") {
  grove::run([] {
    auto worker = grove::spawn([]() -> int { throw std::runtime_error("worker failed"); });
    auto watcher = [](grove::fiber<int> f) -> asio::awaitable<std::string> {
      try {
        co_await grove::async_get(f, asio::use_awaitable);
      } catch (const std::runtime_error& e) {
        co_return e.what();
      }
      co_return "no exception";
    };
    std::string what = asio::co_spawn(hub_io(), watcher(worker), grove::use_fiber);
    CHECK(what == "worker failed");
  });
}

TEST_CASE("a coroutine waits for an event, a future and a channel filled by fibers") {
  grove::run([] {
    grove::event ready;
    grove::promise<std::string> promise;
    grove::channel<int> numbers;
    std::vector<std::string> log;
    auto coroutine = [&]() -> asio::awaitable<void> {
      co_await grove::async_wait(ready, asio::use_awaitable);
      log.push_back("event");
      auto future = promise.get_future();
      co_await grove::async_wait(future, asio::use_awaitable);
      log.push_back(future.get());
      for (;;) {
        std::optional<int> n =
            co_await grove::async_run([&] { return numbers.receive(); }, asio::use_awaitable);
        if (!n) break;
        log.push_back(std::to_string(*n));
      }
    };
    grove::event finished;
    asio::co_spawn(hub_io(), coroutine(), [&](std::exception_ptr) { finished.set(); });
    grove::this_fiber::sleep_for(10ms);
    log.push_back("set");
    ready.set();
    grove::this_fiber::sleep_for(10ms);
    promise.set_value("future");
    for (int i = 1; i <= 3; ++i) numbers.send(i);
    numbers.close();
    finished.wait();
    CHECK(log == std::vector<std::string>{"set", "event", "future", "1", "2", "3"});
  });
}

TEST_CASE("cancelling a coroutine's grove wait kills the helper fiber and aborts the wait") {
  grove::run([] {
    grove::event never;
    asio::cancellation_signal cancel;
    std::string outcome;
    grove::event finished;
    auto coroutine = [&]() -> asio::awaitable<void> {
      try {
        co_await grove::async_wait(never, asio::use_awaitable);
        outcome = "woken";
      } catch (const boost::system::system_error& e) {
        outcome = e.code() == asio::error::operation_aborted ? "aborted" : e.what();
      }
    };
    std::size_t fibers_before = grove::hub::current().fiber_count();
    asio::co_spawn(
        hub_io(), coroutine(),
        asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr) { finished.set(); }));
    grove::this_fiber::sleep_for(10ms);
    CHECK(grove::hub::current().fiber_count() == fibers_before + 1);  // the helper
    cancel.emit(asio::cancellation_type::terminal);
    finished.wait();
    CHECK(outcome == "aborted");
    grove::this_fiber::sleep_for(1ms);
    CHECK(grove::hub::current().fiber_count() == fibers_before);
  });
}

TEST_CASE("a callback on the hub waits for a fiber with async_join") {
  grove::run([] {
    auto worker = grove::spawn([] { grove::this_fiber::sleep_for(10ms); });
    grove::event joined;
    grove::async_join(worker, [&](std::exception_ptr e) {
      CHECK(!e);
      CHECK(grove::detail::current_fiber() == nullptr);  // run on the hub, not on the helper
      joined.set();
    });
    joined.wait();
  });
}

TEST_CASE("a fiber waiting for a pending coroutine is not reported as deadlocked") {
  grove::run([] {
    // The only wake-up source is the coroutine's timer and then its grove event: the hub must
    // count the coroutine as work and not wake the main fiber with a deadlock error.
    grove::event set_by_coroutine;
    auto coroutine = [&]() -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
      co_await timer.async_wait(asio::use_awaitable);
      set_by_coroutine.set();
    };
    auto start = clock_type::now();
    asio::co_spawn(hub_io(), coroutine(), asio::detached);
    set_by_coroutine.wait();
    CHECK(ms_since(start) >= 40);
  });
}

TEST_CASE("coroutines and fibers interleave on one hub") {
  grove::run([] {
    std::vector<std::string> order;
    auto coroutine = [&]() -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      for (int i = 0; i < 3; ++i) {
        timer.expires_after(40ms);
        co_await timer.async_wait(asio::use_awaitable);
        order.push_back("coroutine");
      }
    };
    auto fiber = grove::spawn([&] {
      grove::this_fiber::sleep_for(20ms);
      for (int i = 0; i < 3; ++i) {
        order.push_back("fiber");
        grove::this_fiber::sleep_for(40ms);
      }
    });
    asio::co_spawn(hub_io(), coroutine(), grove::use_fiber);
    fiber.join();
    CHECK(order == std::vector<std::string>{"fiber", "coroutine", "fiber", "coroutine", "fiber",
                                            "coroutine"});
  });
}

TEST_CASE("grove::run returns while a coroutine still waits, and destroys its frame") {
  struct set_on_destruction {
    bool& flag;
    ~set_on_destruction() { flag = true; }
  };
  bool destroyed = false;
  auto coroutine = [&]() -> asio::awaitable<void> {
    set_on_destruction guard{destroyed};
    asio::steady_timer timer(co_await asio::this_coro::executor, 10s);
    co_await timer.async_wait(asio::use_awaitable);
  };
  auto start = clock_type::now();
  grove::run([&] {
    asio::co_spawn(hub_io(), coroutine(), asio::detached);
    grove::this_fiber::sleep_for(10ms);
    CHECK(!destroyed);
  });
  CHECK(destroyed);
  CHECK(ms_since(start) < 5000);
}
