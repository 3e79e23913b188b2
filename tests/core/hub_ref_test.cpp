// Promises of <grove/hub_ref.hpp>: reaching a hub from other threads.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/hub_ref.hpp>  // first: the header is self-contained
#include <memory>
#include <string>
#include <thread>

#include "../throws.hpp"

using namespace std::chrono_literals;

namespace {

/// A hub on its own thread whose main fiber publishes its ref, then runs `body` (by default:
/// waits for `stop`).
struct hub_thread {
  grove::promise<grove::hub_ref> ref_ready{grove::cross_thread};
  grove::event stop{grove::cross_thread};
  std::thread thread;
  std::thread::id id;

  hub_thread() {
    thread = std::thread([this] {
      grove::run([this] {
        id = std::this_thread::get_id();
        ref_ready.set_value(grove::hub::current().ref());
        stop.wait();
      });
    });
  }
  grove::hub_ref ref() { return ref_ready.get_future().get(); }
  void end() {
    stop.set();
    if (thread.joinable()) thread.join();
  }
  ~hub_thread() { end(); }
};

}  // namespace

TEST_CASE("post runs a function on the hub of another thread, as a callback") {
  hub_thread worker;
  grove::hub_ref ref = worker.ref();
  CHECK(ref.alive());
  grove::event ran(grove::cross_thread);
  std::thread::id ran_on;
  bool in_fiber = true;
  CHECK(ref.post([&] {
    ran_on = std::this_thread::get_id();
    in_fiber = grove::detail::current_fiber() != nullptr;
    ran.set();
  }));
  ran.wait();  // a plain thread blocks on a cross-thread event
  CHECK(ran_on == worker.id);
  CHECK_FALSE(in_fiber);
}

TEST_CASE("once the hub has ended post returns false and spawn throws a clear error") {
  grove::hub_ref ref;
  CHECK_FALSE(ref.post([] {}));  // an empty ref
  {
    hub_thread worker;
    ref = worker.ref();
  }
  CHECK_FALSE(ref.alive());
  bool ran = false;
  CHECK_FALSE(ref.post([&] { ran = true; }));
  CHECK_FALSE(ran);
  CHECK_THROWS_WITH_AS(ref.spawn([] { return 1; }), "grove::hub_ref::spawn: the hub has ended",
                       grove::error);
}

TEST_CASE("spawn starts a fiber on another hub; a fiber of a third hub and a plain thread get it") {
  hub_thread worker;
  grove::hub_ref ref = worker.ref();
  std::thread::id ran_on;
  auto remote = ref.spawn(
      [&ran_on](std::string s, int n) {
        grove::this_fiber::sleep_for(10ms);  // really waits there, on its own hub
        ran_on = std::this_thread::get_id();
        return s + std::to_string(n) + "!";
      },
      std::string("answer "), 42);
  std::string from_fiber = grove::run([&] {
    bool joined = remote.join_for(10s);
    CHECK(joined);
    return remote.get();
  });
  CHECK(from_fiber == "answer 42!");
  CHECK(ran_on == worker.id);
  std::string from_thread = remote.get();  // from this plain thread
  CHECK(from_thread == "answer 42!");

  auto failing = ref.spawn([]() -> int { throw std::runtime_error("boom"); });
  std::exception_ptr error = grove_test::thrown<std::runtime_error>([&] { failing.get(); });
  CHECK_THROWS_WITH_AS(grove_test::rethrow(error), "boom", std::runtime_error);
}

TEST_CASE("a remote fiber killed when its hub ends reports killed_error to its joiner") {
  hub_thread worker;
  grove::hub_ref ref = worker.ref();
  grove::event started(grove::cross_thread);
  auto sleeper = ref.spawn([&] {
    started.set();
    grove::this_fiber::sleep_for(1h);
  });
  started.wait();
  worker.end();  // the hub's main returns: the sleeper is killed
  bool joined = sleeper.join_for(10s);
  CHECK(joined);
  std::exception_ptr error = grove_test::thrown<grove::killed_error>([&] { sleeper.get(); });
  CHECK_THROWS_WITH_AS(grove_test::rethrow(error),
                       "grove: the fiber started with hub_ref::spawn was killed: its hub is ending",
                       grove::killed_error);
}

TEST_CASE("a spawn the hub never gets to start reports it through get()") {
  grove::remote_fiber<int> never;
  grove::run([&] {
    // Posted to this very hub, which ends before it polls for it.
    never = grove::hub::current().ref().spawn([] { return 1; });
  });
  CHECK(never.ready());
  std::exception_ptr error = grove_test::thrown<grove::error>([&] { never.get(); });
  CHECK_THROWS_WITH_AS(grove_test::rethrow(error),
                       "grove::hub_ref::spawn: the hub ended before the fiber started",
                       grove::error);
}

TEST_CASE("threads posting to a hub while it ends never touch freed memory nor hang") {
  for (int round = 0; round < 30; ++round) {
    auto tracker = std::make_shared<int>(0);
    std::atomic<int> ran{0};
    grove::promise<grove::hub_ref> ready(grove::cross_thread);
    std::thread hub([&] {
      grove::run([&] {
        ready.set_value(grove::hub::current().ref());
        for (int i = 0; i < round % 5; ++i) grove::this_fiber::yield();
      });
    });
    grove::hub_ref ref = ready.get_future().get();
    std::thread posters[2];
    for (auto& poster : posters) {
      poster = std::thread([&, ref] {
        // Bounded: the hub ends within a few loop turns, after which post() fails.
        for (int i = 0; i < 1'000'000 && ref.post([&ran, tracker] { ++ran; }); ++i) {
        }
      });
    }
    for (auto& poster : posters) poster.join();
    hub.join();
    CHECK_FALSE(ref.post([] {}));
    CHECK(tracker.use_count() == 1);  // every posted function ran or was destroyed unrun
  }
}

TEST_CASE("a fiber waiting only on another thread is not reported as a deadlock") {
  grove::event ev(grove::cross_thread);
  std::thread setter;
  grove::run([&] {
    setter = std::thread([&] {
      std::this_thread::sleep_for(50ms);  // the hub must idle, not declare a deadlock
      ev.set();
    });
    ev.wait();
  });
  setter.join();
  CHECK(ev.is_set());
}

// remote_fiber::kill ---------------------------------------------------------------------------

namespace {

/// Sets `flag` when destroyed: proves a killed fiber unwound its frames with RAII.
struct unwind_probe {
  std::atomic<bool>& flag;
  ~unwind_probe() { flag = true; }
};

}  // namespace

TEST_CASE(
    "a fiber of another hub kills a remote fiber waiting on a pipe, a timer or a shared channel") {
  hub_thread worker;
  grove::hub_ref ref = worker.ref();
  grove::channel<int> never_sent(0, grove::cross_thread);
  for (const char* wait : {"pipe", "timer", "channel"}) {
    CAPTURE(wait);
    std::atomic<bool> unwound{false};
    std::atomic<bool> returned{false};
    grove::event waiting(grove::cross_thread);
    auto target = ref.spawn([&, wait = std::string(wait)] {
      unwind_probe probe{unwound};
      if (wait == "pipe") {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        grove::pipe_stream reader(fds[0]), writer(fds[1]);
        char byte;
        waiting.set();
        (void)reader.read_some(boost::asio::buffer(&byte, 1));  // nothing is ever written
      } else if (wait == "timer") {
        waiting.set();
        grove::this_fiber::sleep_for(1h);
      } else {
        waiting.set();
        (void)never_sent.receive();
      }
      returned = true;
    });
    grove::run([&] {  // the killer: a fiber of this thread's hub
      waiting.wait();
      target.kill();
      bool joined = target.join_for(10s);
      CHECK(joined);
    });
    bool killed = grove_test::throws<grove::killed_error>([&] { target.get(); });
    CHECK(killed);
    CHECK(unwound);
    CHECK_FALSE(returned);
  }
}

TEST_CASE(
    "a plain thread kills a remote fiber; a second kill and a kill after the end do nothing") {
  hub_thread worker;
  grove::hub_ref ref = worker.ref();
  std::atomic<bool> unwound{false};
  grove::event waiting(grove::cross_thread);
  auto target = ref.spawn([&] {
    unwind_probe probe{unwound};
    waiting.set();
    grove::this_fiber::sleep_for(1h);
    return 1;
  });
  waiting.wait();
  target.kill();
  target.kill();
  bool joined = target.join_for(10s);
  CHECK(joined);
  CHECK(unwound);
  bool killed = grove_test::throws<grove::killed_error>([&] { target.get(); });
  CHECK(killed);

  auto finished = ref.spawn([] { return 7; });
  int value = finished.get();
  CHECK(value == 7);
  finished.kill();  // finished: no-op
  value = finished.get();
  CHECK(value == 7);

  grove::remote_fiber<int> empty;
  empty.kill();  // an empty handle: no-op
}

TEST_CASE(
    "a remote fiber killed before it starts never runs its function and reports killed_error") {
  hub_thread worker;
  grove::hub_ref ref = worker.ref();
  std::atomic<bool> holding{false}, release{false}, ran{false};
  // Hold the hub in a callback, so the spawn's starter waits behind it.
  REQUIRE(ref.post([&] {
    holding = true;
    auto until = std::chrono::steady_clock::now() + 10s;  // bounded
    while (!release && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  }));
  while (!holding) std::this_thread::yield();
  auto target = ref.spawn([&] {
    ran = true;
    return 1;
  });
  target.kill();
  release = true;
  bool joined = target.join_for(10s);
  CHECK(joined);
  bool killed = grove_test::throws<grove::killed_error>([&] { target.get(); });
  CHECK(killed);
  CHECK_FALSE(ran);
}

TEST_CASE("a kill after the remote fiber's hub ended does nothing") {
  grove::remote_fiber<void> target;
  {
    hub_thread worker;
    grove::event waiting(grove::cross_thread);
    target = worker.ref().spawn([&] {
      waiting.set();
      grove::this_fiber::sleep_for(1h);
    });
    waiting.wait();
  }  // the hub ends: the fiber is killed
  target.kill();
  CHECK(target.ready());
  bool killed = grove_test::throws<grove::killed_error>([&] { target.get(); });
  CHECK(killed);
}

TEST_CASE("kills racing the remote fiber's end either kill it or find it finished") {
  hub_thread worker;
  grove::hub_ref ref = worker.ref();
  int finished = 0, killed = 0;
  for (int round = 0; round < 300; ++round) {
    std::atomic<int> alive{0};
    auto target = ref.spawn([&alive, round] {
      ++alive;
      struct leave {
        std::atomic<int>& alive;
        ~leave() { --alive; }  // on return and on unwinding alike
      } guard{alive};
      for (int i = 0; i < round % 7; ++i) grove::this_fiber::yield();
      return round;
    });
    for (int i = 0; i < round % 11 * 50; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
    target.kill();
    bool joined = target.join_for(10s);
    REQUIRE(joined);
    try {
      int value = target.get();
      CHECK(value == round);
      ++finished;
    } catch (const grove::killed_error&) {
      ++killed;
    }
    CHECK(alive == 0);  // ended either way: returned, or unwound
  }
  CHECK(finished + killed == 300);
  MESSAGE("finished " << finished << ", killed " << killed);
}
