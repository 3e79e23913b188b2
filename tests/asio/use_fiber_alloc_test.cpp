// A use_fiber operation completed on another thread wakes its fiber without allocating there
// (<grove/use_fiber.hpp>): a thread whose allocations all fail still hands the result, or the
// error of a handler it dropped, to a fiber whose hub sleeps in its reactor; a completion racing
// its hub's end, or coming after the hub abandoned the fiber, touches nothing that has gone.
// That thread is someone else's (a library's worker): an allocation there that failed would
// throw into its loop or end the process. This executable replaces aligned_alloc (what Asio's
// handler allocator calls) and operator new, failing them on a thread that asks, and reads a
// hub's internals (lib/core) to complete an operation only once its hub sleeps.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/use_fiber.hpp>  // first: the header is self-contained
#include <string>
#include <thread>
#include <utility>

#include "../failing_alloc.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using grove::use_fiber;

namespace {
using grove_test::t_fail_allocations;
using grove_test::this_hub_control;
using grove_test::wait_until_asleep;

using signature = void(boost::system::error_code, std::string);

/// Long enough to live on the heap: it arrives whole, moved, never copied.
std::string text_of(int round) {
  return "round " + std::to_string(round) + ", completed on a thread without memory";
}

/// Keeps the hub's io_context busy for at most 10 s (an operation completed on another thread
/// is not its work, see use_fiber.hpp): a completion that never comes then ends as a deadlock
/// report instead of a hang.
struct busy_hub {
  grove::fiber<void> sleeper = grove::spawn([] { grove::this_fiber::sleep_for(10s); });
  ~busy_hub() { sleeper.kill(); }
};

/// An operation whose initiation hands its handler to a new plain thread `thread`, which, once
/// the calling fiber's hub sleeps (`asleep`) or at once, runs `act(handler)` with every
/// allocation of that thread failing (what `act` hands over is made beforehand). The initiation
/// has no executor: use_fiber cannot refuse it up front.
template <class Act>
std::string complete_elsewhere(std::thread& thread, bool& asleep, bool wait_for_sleep, Act act) {
  grove::detail::hub_control* control = &this_hub_control();
  return asio::async_initiate<const grove::use_fiber_t&, signature>(
      [&thread, &asleep, control, wait_for_sleep, act](auto handler) mutable {
        thread = std::thread(
            [&asleep, control, wait_for_sleep, act, handler = std::move(handler)]() mutable {
              asleep = !wait_for_sleep || wait_until_asleep(*control);
              t_fail_allocations = true;
              act(std::move(handler));
              t_fail_allocations = false;
            });
      },
      use_fiber);
}

}  // namespace

TEST_CASE("an operation completed on a thread without memory wakes its sleeping hub's fiber") {
  int delivered = 0, asleep_count = 0;
  grove::run([&] {
    busy_hub busy;
    for (int round = 0; round < 20; ++round) {
      std::thread completer;
      bool asleep = false;
      std::string got = complete_elsewhere(
          completer, asleep, true, [text = text_of(round)](auto handler) mutable {
            std::move(handler)(boost::system::error_code{}, std::move(text));
          });
      completer.join();
      asleep_count += asleep;
      delivered += got == text_of(round);
    }
  });
  CHECK(asleep_count == 20);
  CHECK(delivered == 20);
}

TEST_CASE("an operation failing on a thread without memory throws its error in the fiber") {
  bool asleep = false;
  std::string error;
  grove::run([&] {
    busy_hub busy;
    std::thread completer;
    try {
      complete_elsewhere(completer, asleep, true, [](auto handler) {
        std::move(handler)(asio::error::connection_reset, std::string());
      });
    } catch (const boost::system::system_error& e) {
      error = e.what();
    }
    completer.join();
  });
  CHECK(asleep);
  CHECK(error.find("reset") != std::string::npos);
}

TEST_CASE("a handler dropped uncalled on a thread without memory ends its fiber's wait") {
  bool asleep = false;
  std::string error;
  grove::run([&] {
    busy_hub busy;
    std::thread completer;
    try {
      complete_elsewhere(completer, asleep, true, [](auto handler) {
        auto dropped = std::move(handler);  // destroyed here, never called
      });
    } catch (const grove::error& e) {
      error = e.what();
    }
    completer.join();
  });
  CHECK(asleep);
  CHECK(error.find("dropped its completion handler") != std::string::npos);
}

TEST_CASE("a completion on another thread racing its hub's end is delivered whole") {
  // The hub runs the item, its fiber returns, grove::run ends and frees the hub while the
  // completing thread may still be in its post (the sleep flag, the interrupt).
  for (int round = 0; round < 200; ++round) {
    std::thread completer;
    std::string got;
    grove::run([&] {
      auto work = asio::make_work_guard(grove::hub::current().io_context());
      bool asleep = false;
      got = complete_elsewhere(completer, asleep, false,
                               [text = text_of(round)](auto handler) mutable {
                                 std::move(handler)(boost::system::error_code{}, std::move(text));
                               });
    });
    completer.join();
    CHECK(got == text_of(round));
  }
}

TEST_CASE("a completion on another thread after its hub abandoned the fiber is refused safely") {
  // The fiber waits for an operation nothing on its hub will complete; when the main fiber
  // returns the hub kills it, cancels the operation (which ignores that), finds nothing left
  // to wait for and abandons the fiber, its frame leaked (stderr says so). Only then does the
  // other thread complete the operation: its hub, io_context and inbox are gone.
  for (int round = 0; round < 5; ++round) {
    std::thread completer;
    std::atomic<bool> release{false};
    bool asleep = false;
    bool returned = false;
    grove::run([&] {
      auto waiter = grove::spawn({.name = "abandoned"}, [&] {
        complete_elsewhere(completer, asleep, false,
                           [&release, text = text_of(0)](auto handler) mutable {
                             release.wait(false);
                             std::move(handler)(boost::system::error_code{}, std::move(text));
                           });
        returned = true;
      });
      grove::this_fiber::yield();  // the waiter starts its operation and waits
    });
    release = true;
    release.notify_all();
    completer.join();
    CHECK_FALSE(returned);
  }
}
