// Promises of <grove/detail/suspension.hpp> beyond what fiber/timeout tests show: the
// uninterruptible suspension that waits for a cancelled operation's completion.
#include <grove/detail/suspension.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/detail/completion.hpp>
#include <grove/detail/fiber_base.hpp>
#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("an uninterruptible suspension defers a kill to the next wait") {
  grove::run([] {
    grove::detail::wake_token waiter;
    bool woke_notified = false;
    bool killed_later = false;
    auto f = grove::spawn([&] {
      waiter = grove::detail::next_suspension();
      woke_notified =
          grove::detail::suspend_uninterruptible() == grove::detail::wake_reason::notified;
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        killed_later = true;
        throw;
      }
    });
    grove::this_fiber::yield();  // f is now suspended
    f.kill();                    // must not wake it
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(f.ready());
    CHECK(grove::detail::wake(waiter, grove::detail::wake_reason::notified));
    f.join();
    CHECK(woke_notified);
    CHECK(killed_later);
  });
}

TEST_CASE("an uninterruptible suspension outlives a scoped timeout, which fires at the next wait") {
  grove::run([] {
    grove::detail::wake_token waiter;
    auto f = grove::spawn([&] {
      waiter = grove::detail::next_suspension();
      grove::timeout t(10ms);
      grove::detail::wake_reason reason = grove::detail::suspend_uninterruptible();
      CHECK(reason == grove::detail::wake_reason::notified);
      CHECK(t.expired());
      bool timed_out = grove_test::throws<grove::timeout_error>([] { grove::this_fiber::yield(); });
      CHECK(timed_out);
    });
    grove::this_fiber::sleep_for(50ms);
    grove::detail::wake(waiter, grove::detail::wake_reason::notified);
    f.get();
  });
}

TEST_CASE("an uninterruptible suspension honours its own deadline; outside a fiber it is a no-op") {
  grove::detail::wake_reason outside = grove::detail::suspend_uninterruptible();
  CHECK(outside == grove::detail::wake_reason::none);
  grove::run([] {
    auto r = grove::detail::suspend_uninterruptible(grove::detail::clock::now() + 5ms);
    CHECK(r == grove::detail::wake_reason::deadline);
  });
}

// ---------------------------------------------------------------------------------------------
// The no-throw suspension C frames use (the shims), and the one interruptibility rule.

namespace {

namespace gd = grove::detail;
using steady = std::chrono::steady_clock;

double ms_since(steady::time_point start) {
  return std::chrono::duration<double, std::milli>(steady::now() - start).count();
}

// Stands in for a shimmed read() on a descriptor that never becomes ready: a no-throw wait, a
// kill or timeout reported as an errno, EAGAIN when the wait's own deadline passed.
int shimmed_read_standin() noexcept {
  gd::wake_reason why = gd::suspend_noexcept(gd::clock::now() + 2ms);
  if (int e = gd::errno_for(why)) {
    errno = e;
  } else {
    errno = EAGAIN;
  }
  return -1;
}

// What libcurl, hiredis and libpq do around read(): retry on EINTR and EAGAIN, give up on
// anything else. Bounded, so a regression fails instead of hanging the suite.
struct retry_result {
  int result = 0;
  int error = 0;
  int attempts = 0;
};
retry_result c_library_read() noexcept {
  retry_result r;
  while (r.attempts < 100000) {
    ++r.attempts;
    r.result = shimmed_read_standin();
    r.error = errno;
    if (r.result == -1 && (r.error == EINTR || r.error == EAGAIN)) continue;
    break;
  }
  return r;
}

}  // namespace

TEST_CASE("errno_for maps a kill to ECANCELED and a scoped timeout to ETIMEDOUT, never EINTR") {
  static_assert(gd::errno_for(gd::wake_reason::killed) == ECANCELED);
  static_assert(gd::errno_for(gd::wake_reason::timeout) == ETIMEDOUT);
  CHECK(gd::errno_for(gd::wake_reason::deadlock) == EDEADLK);
  CHECK(gd::errno_for(gd::wake_reason::notified) == 0);
  CHECK(gd::errno_for(gd::wake_reason::deadline) == 0);
  CHECK(gd::errno_for(gd::wake_reason::none) == 0);
}

TEST_CASE("a C loop retrying on EINTR/EAGAIN ends promptly after a kill, raised at the next wait") {
  grove::run([] {
    retry_result seen;
    bool killed_at_next_wait = false;
    auto f = grove::spawn([&] {
      seen = c_library_read();
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        killed_at_next_wait = true;
        throw;
      }
    });
    grove::this_fiber::sleep_for(30ms);  // several EAGAIN rounds
    auto killed_at = steady::now();
    f.kill();
    bool joined = f.join_for(2s);
    CHECK(joined);
    CHECK(ms_since(killed_at) < 500);
    CHECK(seen.result == -1);
    CHECK(seen.error == ECANCELED);
    CHECK(seen.attempts > 1);
    CHECK(killed_at_next_wait);
  });
}

TEST_CASE("a C loop retrying on EINTR/EAGAIN ends with ETIMEDOUT when its scoped timeout expires") {
  grove::run([] {
    auto start = steady::now();
    retry_result seen;
    bool timeout_at_next_wait = false;
    {
      grove::timeout t(30ms);
      seen = c_library_read();
      try {
        grove::this_fiber::yield();
      } catch (const grove::timeout_error& e) {
        timeout_at_next_wait = e.from(t);
      }
    }
    CHECK(ms_since(start) < 500);
    CHECK(seen.error == ETIMEDOUT);
    CHECK(timeout_at_next_wait);
  });
}

TEST_CASE("a C loop that retries whatever the errno still lets the other fibers run") {
  grove::run([] {
    int ticks = 0;
    bool done = false;
    auto ticker = grove::spawn([&] {
      for (int i = 0; i < 100000 && !done; ++i) {
        ++ticks;
        grove::this_fiber::yield();
      }
    });
    int ticks_during_loop = -1;
    int reported_killed = 0;
    auto stubborn = grove::spawn([&] {
      gd::kill(gd::current_fiber());  // pending: every no-throw wait now reports it
      int before = ticks;
      for (int i = 0; i < 200; ++i) {
        if (gd::suspend_noexcept() == gd::wake_reason::killed) ++reported_killed;
      }
      ticks_during_loop = ticks - before;
      done = true;
      grove::this_fiber::yield();  // the kill lands here
      FAIL("the pending kill was not raised");
    });
    stubborn.join();
    ticker.join();
    CHECK(reported_killed == 200);
    CHECK(ticks_during_loop >= 150);  // each retry passed through the hub
    bool killed = grove_test::throws<grove::killed_error>([&] { stubborn.get(); });
    CHECK(killed);
  });
}

TEST_CASE("a no-throw wait inside a shield or while unwinding is not ended by a kill") {
  grove::run([] {
    gd::wake_reason shielded = gd::wake_reason::none;
    gd::wake_reason pending_in_shield = gd::wake_reason::none;
    gd::wake_reason unwinding = gd::wake_reason::none;
    bool killed_after = false;
    auto f = grove::spawn([&] {
      {
        grove::this_fiber::shield s;
        shielded = gd::suspend_noexcept(gd::clock::now() + 60ms);  // killed meanwhile
        pending_in_shield = gd::suspend_noexcept(gd::clock::now() + 5ms);
      }
      try {
        struct waits_in_destructor {
          gd::wake_reason& out;
          ~waits_in_destructor() { out = gd::suspend_noexcept(gd::clock::now() + 5ms); }
        } guard{unwinding};
        throw std::runtime_error("unwind");
      } catch (const std::runtime_error&) {
      }
      try {
        grove::this_fiber::yield();
      } catch (const grove::fiber_killed&) {
        killed_after = true;
        throw;
      }
    });
    grove::this_fiber::sleep_for(20ms);
    f.kill();
    f.join();
    CHECK(shielded == gd::wake_reason::deadline);
    CHECK(pending_in_shield == gd::wake_reason::deadline);
    CHECK(unwinding == gd::wake_reason::deadline);
    CHECK(killed_after);
  });
}

TEST_CASE("errno survives every kind of suspension while other fibers and the hub change it") {
  grove::run([] {
    bool done = false;
    auto clobberer = grove::spawn([&] {
      for (int i = 0; i < 100000 && !done; ++i) {
        errno = EBADF;
        grove::this_fiber::yield();
      }
    });
    auto f = grove::spawn([&] {
      errno = EDOM;
      grove::this_fiber::sleep_for(10ms);
      CHECK(errno == EDOM);
      errno = ERANGE;
      grove::this_fiber::yield();
      CHECK(errno == ERANGE);
      errno = EILSEQ;
      gd::wake_reason reason = gd::suspend_noexcept(gd::clock::now() + 5ms);
      CHECK(reason == gd::wake_reason::deadline);
      CHECK(errno == EILSEQ);
      errno = ENOSPC;
      reason = gd::suspend_uninterruptible(gd::clock::now() + 5ms);
      CHECK(reason == gd::wake_reason::deadline);
      CHECK(errno == ENOSPC);
      done = true;
    });
    f.get();
    clobberer.join();
  });
}

// ---------------------------------------------------------------------------------------------
// A wake belongs to one suspension.

TEST_CASE("a wake token of a suspension that has ended is refused and cannot end a later wait") {
  grove::run([] {
    gd::wake_token stale;
    gd::wake_token current;
    gd::wake_reason later = gd::wake_reason::none;
    auto f = grove::spawn([&] {
      stale = gd::next_suspension();
      grove::this_fiber::sleep_for(1ms);  // the suspension `stale` names ends here
      current = gd::next_suspension();
      later = gd::suspend_noexcept(gd::clock::now() + 200ms);
    });
    grove::this_fiber::sleep_for(20ms);  // f is in its second suspension
    CHECK(stale.fiber == current.fiber);
    CHECK(stale.suspension != current.suspension);
    CHECK_FALSE(gd::is_waiting(stale));
    CHECK_FALSE(gd::wake(stale, gd::wake_reason::notified));
    CHECK(gd::is_waiting(current));
    CHECK(gd::wake(current, gd::wake_reason::notified));
    CHECK_FALSE(gd::wake(current, gd::wake_reason::notified));  // the first wake wins
    f.join();
    CHECK(later == gd::wake_reason::notified);
  });
}

TEST_CASE("a completion that lands after its wait was interrupted cannot end a later wait") {
  // A late completion: the operation's wake arrives while the fiber already waits on something
  // else. The token it holds names the old suspension, so it is refused.
  grove::run([] {
    gd::completion* late = nullptr;
    gd::wake_reason second = gd::wake_reason::none;
    auto f = grove::spawn([&] {
      gd::completion c;
      late = &c;
      c.waiter = gd::next_suspension();
      gd::wake_reason first = gd::suspend_noexcept(gd::clock::now() + 1ms);
      CHECK(first == gd::wake_reason::deadline);
      second = gd::suspend_noexcept(gd::clock::now() + 100ms);
      late = nullptr;
    });
    grove::this_fiber::sleep_for(20ms);  // f is in its second suspension
    REQUIRE(late);
    late->complete();
    f.join();
    CHECK(second == gd::wake_reason::deadline);
  });
}

TEST_CASE("every wait entry point refuses a caller that is not a fiber with the same error") {
  std::vector<std::string> messages;
  auto record = [&](auto&& call) {
    try {
      call();
      messages.push_back("returned");
    } catch (const grove::error& e) {
      messages.push_back(e.what());
    }
  };
  bool initiated = false;
  auto await_timer = [&] { gd::await_asio<>([&](auto&&) { initiated = true; }, [] {}); };
  auto all_entry_points = [&] {
    record([] { gd::suspend(); });
    record([] { gd::yield(); });
    record([] { gd::require_fiber(); });
    record(await_timer);
    record([] { grove::this_fiber::sleep_for(1ms); });
    record([] {
      grove::event e;
      e.wait();
    });
    record([] {
      grove::semaphore s(0);
      s.acquire();
    });
    record([] {
      grove::mutex m;
      m.lock();
    });
    record([] {
      grove::queue<int> q;
      q.get();
    });
    record([] { grove::offload([] { return 1; }); });
  };
  all_entry_points();  // outside grove::run
  grove::run([&] {
    grove::call_soon(all_entry_points);  // from a hub callback
    grove::this_fiber::sleep_for(10ms);
  });
  REQUIRE(messages.size() == 20);
  for (const std::string& m : messages) CHECK(m == messages.front());
  CHECK(messages.front().find("can only be made from a fiber") != std::string::npos);
  CHECK_FALSE(initiated);
}

namespace {
// Runs `waits` in three fibers on a primitive made by `make`, destroys the primitive while they
// wait, and returns the errors their waits ended with (empty strings for waits that returned).
template <class Primitive, class... Args, class Wait>
std::vector<std::string> destroy_under_waiters(Wait wait, Args... args) {
  std::vector<std::string> errors;
  auto primitive = std::make_unique<Primitive>(args...);
  std::vector<grove::fiber<void>> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(grove::spawn([&] {
      try {
        wait(*primitive);
        errors.emplace_back();
      } catch (const grove::error& e) {
        errors.emplace_back(e.what());
      }
    }));
  }
  grove::this_fiber::yield();  // every waiter starts and suspends on the primitive
  primitive.reset();
  for (auto& w : waiters) w.join();  // a waiter left hanging would show as a deadlock here
  return errors;
}

bool all_name(const std::vector<std::string>& errors, const std::string& what) {
  if (errors.size() != 3) return false;
  for (const auto& e : errors) {
    if (e.find(what + " destroyed while a fiber waited on it") == std::string::npos) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("destroying a primitive while fibers wait on it wakes them with an error naming it") {
  grove::run([] {
    std::vector<std::string> waiter_errors =
        destroy_under_waiters<grove::event>([](grove::event& e) { e.wait(); });
    CHECK(all_name(waiter_errors, "grove::event"));
    waiter_errors = destroy_under_waiters<grove::semaphore>(
        [](grove::semaphore& s) { s.acquire(); }, std::size_t{0});
    CHECK(all_name(waiter_errors, "grove::semaphore"));
    waiter_errors = destroy_under_waiters<grove::queue<int>>([](grove::queue<int>& q) { q.get(); });
    CHECK(all_name(waiter_errors, "grove::queue"));
    waiter_errors = destroy_under_waiters<grove::queue<int>>(
        [](grove::queue<int>& q) {
          q.try_put(0);  // the first fills it, then every put waits
          q.put(1);
        },
        std::size_t{1});
    CHECK(all_name(waiter_errors, "grove::queue"));
    waiter_errors =
        destroy_under_waiters<grove::channel<int>>([](grove::channel<int>& c) { c.receive(); });
    CHECK(all_name(waiter_errors, "grove::channel"));
    waiter_errors =
        destroy_under_waiters<grove::channel<int>>([](grove::channel<int>& c) { c.send(1); });
    CHECK(all_name(waiter_errors, "grove::channel"));
    // A mutex held by the main fiber: the three wait to lock it.
    {
      std::vector<std::string> errors;
      auto m = std::make_unique<grove::mutex>();
      m->lock();
      std::vector<grove::fiber<void>> waiters;
      for (int i = 0; i < 3; ++i) {
        waiters.push_back(grove::spawn([&] {
          try {
            m->lock();
            errors.emplace_back();
          } catch (const grove::error& e) {
            errors.emplace_back(e.what());
          }
        }));
      }
      grove::this_fiber::yield();
      m.reset();  // destroyed locked, with waiters: both are the user's bug; the waiters hear it
      for (auto& w : waiters) w.join();
      CHECK(all_name(errors, "grove::mutex"));
    }
    // A condition variable: its waiters get the mutex back before the error reaches them.
    {
      grove::mutex m;
      std::vector<std::string> errors;
      int relocked = 0;
      auto cv = std::make_unique<grove::condition_variable>();
      std::vector<grove::fiber<void>> waiters;
      for (int i = 0; i < 3; ++i) {
        waiters.push_back(grove::spawn([&] {
          std::unique_lock<grove::mutex> lock(m);
          try {
            cv->wait(lock);
            errors.emplace_back();
          } catch (const grove::error& e) {
            relocked += lock.owns_lock();
            errors.emplace_back(e.what());
          }
        }));
      }
      grove::this_fiber::yield();
      cv.reset();
      for (auto& w : waiters) w.join();
      CHECK(all_name(errors, "grove::condition_variable"));
      CHECK(relocked == 3);
    }
  });
}

TEST_CASE(
    "an abandoned wait is EIDRM for a C frame, and a queue destroyed without waiters is "
    "quiet") {
  CHECK(grove::detail::errno_for(grove::detail::wake_reason::abandoned) == EIDRM);
  grove::run([] {
    grove::detail::wake_reason seen = grove::detail::wake_reason::none;
    auto q = std::make_unique<grove::detail::wait_queue>(grove::detail::wait_kind::event);
    auto waiter = grove::spawn([&] {
      grove::detail::wait_node node;
      q->push_back(node);
      seen = grove::detail::suspend_noexcept();
    });
    grove::this_fiber::yield();
    q.reset();
    waiter.join();
    CHECK(seen == grove::detail::wake_reason::abandoned);
    grove::detail::wait_queue empty;  // destroyed at the end: nothing to wake
  });
}

TEST_CASE(
    "a wait queue's wait_kind names both its waits in the fiber dump and its abandoned error") {
  grove::run([] {
    auto q = std::make_unique<grove::detail::wait_queue>(grove::detail::wait_kind::group);
    CHECK(std::string(q->owner()) == "grove::group");
    std::string error;
    auto waiter = grove::spawn([&] {
      try {
        q->wait();  // no kind given: the queue's
      } catch (const grove::error& e) {
        error = e.what();
      }
    });
    grove::this_fiber::yield();
    std::ostringstream dump;
    grove::dump_fibers(dump);
    CHECK(dump.str().find("suspended: group 0x0") != std::string::npos);
    q.reset();
    waiter.join();
    CHECK(error.find("grove::group destroyed while a fiber waited on it") != std::string::npos);
  });
}
