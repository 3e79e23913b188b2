// The shims with hiredis's blocking API (Debian's libhiredis, unmodified) against a real
// redis-server on 127.0.0.1 (started by scripts/test_services.sh): fifty fibers blocked in BLPOP
// at once, all woken by RPUSHes from another fiber; fifty BLPOPs that time out after 0.2 s take
// about 0.2 s together (and the serial time with GROVE_SHIMS=0); a kill or an expired scoped
// grove::timeout gets control back out of redisCommand with an error, and redisFree still works.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/timeout.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client_fixture.hpp"

using namespace std::chrono_literals;
using grove_test::clock_type;
using grove_test::seconds_since;

namespace {

struct context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using redis_connection = std::unique_ptr<redisContext, context_deleter>;

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using redis_reply = std::unique_ptr<redisReply, reply_deleter>;

/// A blocking connection to the test's redis-server, as any program opens one.
redis_connection connect_redis() {
  int port = std::atoi(grove_test::required_env("GROVE_TEST_REDIS_PORT").c_str());
  redis_connection c(redisConnect("127.0.0.1", port));
  REQUIRE(c != nullptr);
  INFO("redisConnect: " << c->errstr);
  REQUIRE(c->err == 0);
  return c;
}

/// A plain blocking command; null when hiredis reports an error (see c->errstr).
template <class... Args>
redis_reply command(redisContext* c, const char* format, Args... args) {
  return redis_reply(static_cast<redisReply*>(redisCommand(c, format, args...)));
}

/// A key of this process only (both test suites share the server).
std::string unique_key(const char* what) {
  return std::string("grove:test:") + what + ":" + std::to_string(::getpid());
}

/// `count` fibers, each on its own connection a BLPOP that times out after 0.2 s; the seconds
/// they took together.
double blpop_timeouts_in_fibers(int count) {
  std::string key = unique_key("empty");
  return grove::run([&] {
    auto start = clock_type::now();
    std::vector<grove::fiber<bool>> waiters;
    for (int i = 0; i < count; ++i) {
      waiters.push_back(grove::spawn([&] {
        auto c = connect_redis();
        auto reply = command(c.get(), "BLPOP %s 0.2", key.c_str());
        return reply != nullptr && reply->type == REDIS_REPLY_NIL;
      }));
    }
    int timed_out = 0;
    for (auto& w : waiters) timed_out += w.get() ? 1 : 0;
    CHECK(timed_out == count);
    return seconds_since(start);
  });
}

/// The number after "blocked_clients:" in INFO clients.
long blocked_clients(redisContext* c) {
  auto reply = command(c, "INFO clients");
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_STRING);
  const char* at = std::strstr(reply->str, "blocked_clients:");
  REQUIRE(at != nullptr);
  return std::atol(at + 16);
}

}  // namespace

TEST_CASE("fifty fibers blocked in BLPOP at once are all woken by RPUSHes from another fiber") {
  constexpr int waiters = 50;
  std::string key = unique_key("queue");
  grove::run([&] {
    auto pusher = connect_redis();
    command(pusher.get(), "DEL %s", key.c_str());
    long blocked_before = blocked_clients(pusher.get());

    std::vector<std::string> received(waiters);
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < waiters; ++i) {
      fibers.push_back(grove::spawn([&, i] {
        auto c = connect_redis();
        auto reply = command(c.get(), "BLPOP %s 10", key.c_str());
        if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
          received[i] = reply->element[1]->str;
        }
      }));
    }
    // Every waiter is blocked in the server at the same time before anything is pushed: with
    // the thread blocked in the first BLPOP this could never happen. Polled: redis has no event
    // for it (bounded: 10 s).
    long blocked = 0;
    for (int round = 0; round < 1000; ++round) {
      blocked = blocked_clients(pusher.get()) - blocked_before;
      if (blocked >= waiters) break;
      grove::this_fiber::sleep_for(10ms);
    }
    CHECK(blocked == waiters);

    auto start = clock_type::now();
    for (int i = 0; i < waiters; ++i) {
      auto reply = command(pusher.get(), "RPUSH %s v%d", key.c_str(), i);
      REQUIRE(reply != nullptr);
    }
    for (auto& f : fibers) f.join();
    double served = seconds_since(start);
    std::printf(
        "hiredis: %d fibers blocked in BLPOP at once, all served %.3f s after the first "
        "RPUSH\n",
        waiters, served);
    std::vector<std::string> expected;
    for (int i = 0; i < waiters; ++i) expected.push_back("v" + std::to_string(i));
    std::sort(received.begin(), received.end());
    std::sort(expected.begin(), expected.end());
    CHECK(received == expected);  // each value went to exactly one waiter
    CHECK(served < 2.0);
  });
}

TEST_CASE("fifty BLPOPs timing out after 0.2 s in fibers take about 0.2 s together, not 10 s") {
  double concurrent = blpop_timeouts_in_fibers(50);
  grove_test::compare_with_serial("hiredis", "BLPOPs of 0.2 s", concurrent,
                                  "serial child: ten BLPOP timeouts", 2.0);
}

TEST_CASE("serial child: ten BLPOP timeouts" * doctest::skip()) {
  grove_test::report_serial_seconds(blpop_timeouts_in_fibers(10));
}

namespace {

/// What happened to a BLPOP interrupted by a kill or a scoped timeout.
struct interrupted_command : grove_test::interruption {
  bool returned = false;  // redisCommand returned
  bool failed = false;    // ... with null and an error on the context
  std::string error;      // c->errstr
  bool freed = false;     // redisFree ran
};

/// A BLPOP of 5 s on a key nobody pushes to; records what it returned into `out`.
void blocking_pop(interrupted_command& out, clock_type::time_point start) {
  auto c = connect_redis();
  auto reply = command(c.get(), "BLPOP %s 5", unique_key("never").c_str());
  out.call_seconds = seconds_since(start);
  out.returned = true;
  out.failed = reply == nullptr && c->err != 0;
  out.error = c->errstr;
  c.reset();
  out.freed = true;
}

}  // namespace

TEST_CASE("a fiber killed inside redisCommand gets control back at once with an error") {
  interrupted_command out;
  grove_test::kill_during_call(
      out, [&] { return [&](clock_type::time_point start) { blocking_pop(out, start); }; }, {});
  MESSAGE("killed BLPOP: '" << out.error << "' after " << out.call_seconds << " s");
  CHECK(out.main_slept < 2.0);  // the hub ran other fibers while hiredis waited
  CHECK(out.returned);
  CHECK(out.failed);
  CHECK(out.end_seconds < 2.0);  // not the 5 s of the BLPOP
  CHECK(out.cpu_seconds < 0.5);  // nothing spun
  CHECK(out.freed);
  CHECK_FALSE(out.reached_end);
}

TEST_CASE("a scoped grove::timeout expiring inside redisCommand makes it fail promptly") {
  interrupted_command out;
  grove_test::time_out_during_call(
      out, [&] { return [&](clock_type::time_point start) { blocking_pop(out, start); }; }, {});
  MESSAGE("timed-out BLPOP: '" << out.error << "' after " << out.call_seconds << " s");
  CHECK(out.main_slept < 2.0);
  CHECK(out.returned);
  CHECK(out.failed);
  CHECK(out.call_seconds >= 0.15);
  CHECK(out.call_seconds < 2.0);
  CHECK(out.cpu_seconds < 0.5);
  CHECK(out.freed);
  CHECK(out.grove_wait_threw);
  CHECK(out.reached_end);
}
