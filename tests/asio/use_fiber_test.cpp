// Promises of <grove/use_fiber.hpp>: every Asio family the samples use (sockets, timers,
// resolver, signal sets) called through grove::use_fiber returns its result, throws or fills
// [ec] on error, and honours kill and scoped timeouts (cancelling the operation and waiting for
// its handler) including when the operation completes in the same hub iteration as the kill.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <csignal>
#include <grove/grove.hpp>
#include <grove/use_fiber.hpp>  // first: the header is self-contained
#include <string>
#include <tuple>

#include "../throws.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using grove::use_fiber;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

asio::io_context& hub_io() { return grove::hub::current().io_context(); }

/// A connected loopback pair of Asio sockets on the hub's io_context, made with use_fiber.
struct socket_pair {
  tcp::acceptor acceptor{hub_io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  tcp::socket client{hub_io()};
  tcp::socket server{hub_io()};
  socket_pair() {
    auto accepting = grove::spawn([this] { server = acceptor.async_accept(use_fiber); });
    client.async_connect(acceptor.local_endpoint(), use_fiber);
    accepting.join();
  }
};

/// Sets `flag` when destroyed: proves a killed fiber's frame unwound.
struct unwound_flag {
  bool& flag;
  ~unwound_flag() { flag = true; }
};

/// Runs `wait` in a fiber, kills it mid-operation, and checks that it unwinds promptly.
template <class Wait>
void check_kill_mid_operation(Wait wait) {
  bool unwound = false;
  bool returned = false;
  auto victim = grove::spawn([&] {
    unwound_flag guard{unwound};
    wait();
    returned = true;
  });
  grove::this_fiber::sleep_for(20ms);
  REQUIRE(!victim.ready());
  auto start = clock_type::now();
  victim.kill();
  victim.join();
  CHECK(ms_since(start) < 1000);
  CHECK(unwound);
  CHECK(!returned);
}

/// Runs `wait` under a 50 ms grove::timeout and checks that timeout_error arrives promptly.
template <class Wait>
void check_timeout_mid_operation(Wait wait) {
  auto start = clock_type::now();
  bool timed_out =
      grove_test::throws<grove::timeout_error>([&] { grove::with_timeout(50ms, wait); });
  CHECK(timed_out);
  CHECK(ms_since(start) >= 40);
  CHECK(ms_since(start) < 1000);
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Timers

TEST_CASE("a steady_timer wait through use_fiber suspends only the calling fiber") {
  grove::run([] {
    int ticks = 0;
    auto ticker = grove::spawn([&] {
      for (int i = 0; i < 5; ++i) {
        grove::this_fiber::sleep_for(10ms);
        ++ticks;
      }
    });
    auto start = clock_type::now();
    asio::steady_timer timer(hub_io(), 100ms);
    timer.async_wait(use_fiber);
    CHECK(ms_since(start) >= 90);
    CHECK(ticks == 5);  // the other fiber ran while this one waited
    ticker.join();
  });
}

TEST_CASE("a cancelled timer throws system_error, or fills the error_code with use_fiber[ec]") {
  grove::run([] {
    asio::steady_timer timer(hub_io(), 10s);
    auto canceller = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      timer.cancel();
    });
    try {
      timer.async_wait(use_fiber);
      FAIL("the wait returned");
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == asio::error::operation_aborted);
    }
    canceller.join();

    timer.expires_after(10s);
    canceller = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      timer.cancel();
    });
    boost::system::error_code ec;
    timer.async_wait(use_fiber[ec]);
    CHECK(ec == asio::error::operation_aborted);
    canceller.join();

    timer.expires_after(1ms);
    timer.async_wait(use_fiber[ec]);
    CHECK(!ec);  // cleared on success
  });
}

TEST_CASE("kill and timeout reach a timer wait through its cancellation slot") {
  grove::run([] {
    asio::steady_timer timer(hub_io(), 10s);
    check_kill_mid_operation([&] { timer.async_wait(use_fiber); });
    check_timeout_mid_operation([&] { timer.async_wait(use_fiber); });
    // The cancelled operations left nothing behind: the timer still works.
    timer.expires_after(5ms);
    timer.async_wait(use_fiber);
  });
}

TEST_CASE("a timer completing in the same hub iteration as the kill keeps its result") {
  grove::run([] {
    bool waited = false;
    bool killed = false;
    asio::steady_timer timer(hub_io(), 30ms);
    asio::steady_timer killer(hub_io(), 30ms);
    auto victim = grove::spawn([&] {
      timer.async_wait(use_fiber);  // returns: the kill comes after (or with) the expiry
      waited = true;
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        killed = true;
        throw;
      }
    });
    grove::this_fiber::yield();  // let the victim start its wait first
    killer.async_wait([&](boost::system::error_code) { victim.kill(); });
    victim.join();
    CHECK(waited);
    CHECK(killed);
  });
}

// ---------------------------------------------------------------------------------------------
// Sockets

TEST_CASE("socket connect, accept, write and read_some through use_fiber return their results") {
  grove::run([] {
    socket_pair pair;
    std::size_t written = asio::async_write(pair.client, asio::buffer("hello", 5), use_fiber);
    CHECK(written == 5);
    char buf[16];
    std::size_t n = pair.server.async_read_some(asio::buffer(buf), use_fiber);
    CHECK(std::string(buf, n) == "hello");
  });
}

TEST_CASE("an operation completing inside its initiating function does not wait for a poll") {
  // Asio posts such a completion (here a speculative send); use_fiber runs it at once, then
  // only lets the other ready fibers run before returning. The handler posted first would have
  // run before the completion had the fiber waited for the io_context to be polled.
  grove::run([] {
    socket_pair pair;
    bool handler_ran = false;
    bool other_ran = false;
    asio::post(hub_io(), [&] { handler_ran = true; });
    auto other = grove::spawn([&] { other_ran = true; });
    std::size_t written = asio::async_write(pair.client, asio::buffer("now", 3), use_fiber);
    CHECK(written == 3);
    CHECK(other_ran);
    CHECK_FALSE(handler_ran);
    other.join();
    grove::this_fiber::sleep_for(10ms);  // the bytes are in the server's receive buffer
    char buf[16];
    std::size_t n = pair.server.async_read_some(asio::buffer(buf), use_fiber);
    CHECK(std::string(buf, n) == "now");
    CHECK(handler_ran);
  });
}

TEST_CASE("what an initiating function posts besides its own completion runs later, never lost") {
  grove::run([] {
    bool other_ran = false;
    grove::event posted;
    auto bystander = grove::spawn([] {});  // the yield after the completion goes to it
    asio::async_initiate<const grove::use_fiber_t, void()>(
        [&](auto handler) {
          asio::post(hub_io(), [&] {
            other_ran = true;
            posted.set();
          });
          asio::post(hub_io(), std::move(handler));
        },
        use_fiber);
    CHECK_FALSE(other_ran);  // the operation's own completion ran at once; the other waits
    bystander.join();
    posted.wait();  // nothing else to do: a lost handler would be reported as a deadlock
    CHECK(other_ran);
  });
}

TEST_CASE("a resolve then a range connect through use_fiber reaches the listener") {
  grove::run([] {
    tcp::acceptor acceptor(hub_io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto port = acceptor.local_endpoint().port();
    auto accepting = grove::spawn([&] { return acceptor.async_accept(use_fiber); });
    tcp::resolver resolver(hub_io());
    auto endpoints = resolver.async_resolve("127.0.0.1", std::to_string(port), use_fiber);
    tcp::socket socket(hub_io());
    tcp::endpoint reached = asio::async_connect(socket, endpoints, use_fiber);
    CHECK(reached.port() == port);
    tcp::socket accepted = accepting.get();
    CHECK(accepted.remote_endpoint() == socket.local_endpoint());
  });
}

TEST_CASE("a socket read at end of stream throws eof, or reports it with use_fiber[ec]") {
  grove::run([] {
    socket_pair pair;
    pair.client.shutdown(tcp::socket::shutdown_send);
    char buf[16];
    try {
      pair.server.async_read_some(asio::buffer(buf), use_fiber);
      FAIL("the read returned");
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == asio::error::eof);
    }
    boost::system::error_code ec;
    std::size_t n = pair.server.async_read_some(asio::buffer(buf), use_fiber[ec]);
    CHECK(ec == asio::error::eof);
    CHECK(n == 0);
  });
}

TEST_CASE("kill and timeout cancel a pending socket read, and the socket stays usable") {
  grove::run([] {
    socket_pair pair;
    char buf[16];
    check_kill_mid_operation([&] { pair.server.async_read_some(asio::buffer(buf), use_fiber); });
    check_timeout_mid_operation([&] { pair.server.async_read_some(asio::buffer(buf), use_fiber); });
    asio::async_write(pair.client, asio::buffer("after", 5), use_fiber);
    std::size_t n = pair.server.async_read_some(asio::buffer(buf), use_fiber);
    CHECK(std::string(buf, n) == "after");
  });
}

TEST_CASE("a read completing in the same hub iteration as the kill returns its data first") {
  grove::run([] {
    socket_pair pair;
    asio::async_write(pair.client, asio::buffer("ready", 5), use_fiber);
    grove::this_fiber::sleep_for(10ms);  // the bytes are in the server's receive buffer
    std::string got;
    bool killed = false;
    grove::fiber<void> victim;
    victim = grove::spawn([&] {
      char buf[16];
      // The kill is queued first; the data is there, so Asio reads at once and queues the
      // completion right behind it: both run in the same io_context poll.
      asio::post(hub_io(), [&] { victim.kill(); });
      std::size_t n = pair.server.async_read_some(asio::buffer(buf), use_fiber);
      got.assign(buf, n);
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        killed = true;
        throw;
      }
    });
    victim.join();
    CHECK(got == "ready");
    CHECK(killed);
  });
}

// ---------------------------------------------------------------------------------------------
// Resolver (Asio's resolver ignores per-operation cancellation: a kill waits for the lookup)

TEST_CASE("a resolve through use_fiber returns results, throws or fills [ec] on a bad name") {
  grove::run([] {
    tcp::resolver resolver(hub_io());
    auto results = resolver.async_resolve("127.0.0.1", "8080", use_fiber);
    REQUIRE(results.size() == 1);
    CHECK(results.begin()->endpoint().port() == 8080);
    bool failed = grove_test::throws<boost::system::system_error>([&] {
      resolver.async_resolve("not a host", "80", tcp::resolver::numeric_host, use_fiber);
    });
    CHECK(failed);
    boost::system::error_code ec;
    results =
        resolver.async_resolve("not a host", "80", tcp::resolver::numeric_host, use_fiber[ec]);
    CHECK(ec);
    CHECK(results.empty());
  });
}

TEST_CASE("a kill during a resolve lands once the lookup has completed, which keeps its result") {
  grove::run([] {
    tcp::resolver resolver(hub_io());
    std::size_t found = 0;
    bool killed = false;
    grove::fiber<void> victim;
    victim = grove::spawn([&] {
      asio::post(hub_io(), [&] { victim.kill(); });  // arrives while the lookup is pending
      found = resolver.async_resolve("127.0.0.1", "80", use_fiber).size();
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        killed = true;
        throw;
      }
    });
    victim.join();
    CHECK(found == 1);
    CHECK(killed);

    found = 0;
    bool timed_out = false;
    auto timed = grove::spawn([&] {
      try {
        grove::timeout scope(1ns);
        found = resolver.async_resolve("127.0.0.1", "80", use_fiber).size();
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::timeout_error&) {
        timed_out = true;
      }
    });
    timed.join();
    CHECK(found == 1);
    CHECK(timed_out);
  });
}

// ---------------------------------------------------------------------------------------------
// Signal sets

TEST_CASE("a signal_set wait through use_fiber returns the signal number") {
  grove::run([] {
    asio::signal_set signals(hub_io(), SIGUSR1);
    auto raiser = grove::spawn([] {
      grove::this_fiber::sleep_for(10ms);
      std::raise(SIGUSR1);
    });
    int number = signals.async_wait(use_fiber);
    CHECK(number == SIGUSR1);
    raiser.join();
  });
}

TEST_CASE("a cancelled signal wait throws, or fills [ec]; kill and timeout cancel it") {
  grove::run([] {
    asio::signal_set signals(hub_io(), SIGUSR2);
    auto canceller = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      signals.cancel();
    });
    bool cancelled =
        grove_test::throws<boost::system::system_error>([&] { signals.async_wait(use_fiber); });
    CHECK(cancelled);
    canceller.join();
    canceller = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      signals.cancel();
    });
    boost::system::error_code ec;
    signals.async_wait(use_fiber[ec]);
    CHECK(ec == asio::error::operation_aborted);
    canceller.join();

    check_kill_mid_operation([&] { signals.async_wait(use_fiber); });
    check_timeout_mid_operation([&] { signals.async_wait(use_fiber); });
  });
}

TEST_CASE("a signal delivered in the same hub iteration as the kill is returned first") {
  grove::run([] {
    asio::signal_set signals(hub_io(), SIGUSR1);
    std::raise(SIGUSR1);
    grove::this_fiber::sleep_for(10ms);  // the hub reads it: pending in the set, so the next
                                         // wait completes at once
    int number = 0;
    bool killed = false;
    grove::fiber<void> victim;
    victim = grove::spawn([&] {
      asio::post(hub_io(), [&] { victim.kill(); });
      number = signals.async_wait(use_fiber);
      try {
        grove::this_fiber::sleep_for(10s);
      } catch (const grove::fiber_killed&) {
        killed = true;
        throw;
      }
    });
    victim.join();
    CHECK(number == SIGUSR1);
    CHECK(killed);
  });
}

// ---------------------------------------------------------------------------------------------
// Signatures, misuse

namespace {
/// An operation completing with `Signature`'s arguments `values...` (posted to the hub).
template <class Signature, class Token, class... Values>
auto complete_with(Token&& token, Values... values) {
  return asio::async_initiate<Token, Signature>(
      [](auto handler, auto... v) {
        asio::post(hub_io(), [handler = std::move(handler), v...]() mutable { handler(v...); });
      },
      token, values...);
}
}  // namespace

TEST_CASE("several results come back as a tuple, with or without a leading error") {
  grove::run([] {
    auto [number, text] = complete_with<void(boost::system::error_code, int, std::string)>(
        use_fiber, boost::system::error_code{}, 7, std::string("seven"));
    CHECK(number == 7);
    CHECK(text == "seven");
    std::tuple<int, std::string> plain =
        complete_with<void(int, std::string)>(use_fiber, 8, std::string("eight"));
    CHECK(std::get<0>(plain) == 8);
    int single = complete_with<void(int)>(use_fiber, 9);
    CHECK(single == 9);
    complete_with<void()>(use_fiber);
    bool rethrown = grove_test::throws<std::runtime_error>([] {
      complete_with<void(std::exception_ptr)>(use_fiber,
                                              std::make_exception_ptr(std::runtime_error("boom")));
    });
    CHECK(rethrown);
  });
}

TEST_CASE("an I/O object on another io_context is refused with a clear error, not a hang") {
  grove::run([] {
    asio::io_context other;
    asio::steady_timer timer(other, 1ms);
    try {
      timer.async_wait(use_fiber);
      FAIL("the wait returned");
    } catch (const grove::error& e) {
      CHECK(std::string(e.what()).find("another execution context") != std::string::npos);
    }
  });
}

TEST_CASE("use_fiber outside a fiber (a hub callback) is refused with grove::error") {
  grove::run([] {
    std::string message;
    grove::event done;
    grove::call_soon([&] {
      asio::steady_timer timer(hub_io(), 1ms);
      try {
        timer.async_wait(use_fiber);
      } catch (const grove::error& e) {
        message = e.what();
      }
      done.set();
    });
    done.wait();
    CHECK(message.find("from a fiber") != std::string::npos);
  });
}

// ---------------------------------------------------------------------------------------------
// Coroutines

namespace {
asio::awaitable<int> slow_answer(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  co_return 42;
}

asio::awaitable<int> failing_coroutine() {
  co_await asio::post(asio::use_awaitable);
  throw std::runtime_error("coroutine failed");
}
}  // namespace

TEST_CASE("a fiber joins a coroutine with co_spawn(..., use_fiber)") {
  grove::run([] {
    auto start = clock_type::now();
    int answer = asio::co_spawn(hub_io(), slow_answer(50ms), use_fiber);
    CHECK(answer == 42);
    CHECK(ms_since(start) >= 40);
    std::exception_ptr error = grove_test::thrown<std::runtime_error>(
        [] { asio::co_spawn(hub_io(), failing_coroutine(), use_fiber); });
    CHECK_THROWS_WITH_AS(grove_test::rethrow(error), "coroutine failed", std::runtime_error);
  });
}

TEST_CASE("killing a fiber that waits for a coroutine cancels the coroutine") {
  grove::run([] {
    check_kill_mid_operation([] { asio::co_spawn(hub_io(), slow_answer(10s), use_fiber); });
    check_timeout_mid_operation([] { asio::co_spawn(hub_io(), slow_answer(10s), use_fiber); });
  });
}
