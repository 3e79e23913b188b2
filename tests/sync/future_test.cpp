// Promises of <grove/future.hpp>.
#include <grove/future.hpp>  // first: the header is self-contained

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/grove.hpp>

#include "../throws.hpp"

using namespace std::chrono_literals;

TEST_CASE("every fiber waiting in get receives the value") {
  grove::run([] {
    grove::promise<std::string> p;
    std::vector<grove::fiber<std::string>> readers;
    for (int i = 0; i < 4; ++i) {
      readers.push_back(grove::spawn([f = p.get_future()] { return f.get(); }));
    }
    grove::this_fiber::yield();
    for (auto& r : readers) CHECK_FALSE(r.ready());
    p.set_value("hello");
    for (auto& r : readers) {
      std::string got = r.get();
      CHECK(got == "hello");
    }
    auto f = p.get_future();
    CHECK(f.ready());
    std::string got = f.get();
    CHECK(got == "hello");
    got = f.get();
    CHECK(got == "hello");  // as often as asked
  });
}

TEST_CASE("an exception set on the promise is rethrown by every get") {
  grove::run([] {
    grove::promise<int> p;
    auto f = p.get_future();
    p.set_exception(std::make_exception_ptr(std::logic_error("nope")));
    CHECK(f.has_exception());
    std::exception_ptr error = grove_test::thrown<std::logic_error>([&] { f.get(); });
    CHECK_THROWS_WITH_AS(grove_test::rethrow(error), "nope", std::logic_error);
    bool threw_again = grove_test::throws<std::logic_error>([&] { f.get(); });
    CHECK(threw_again);
  });
}

TEST_CASE("setting a result twice is an error and keeps the first") {
  grove::run([] {
    grove::promise<int> p;
    p.set_value(1);
    CHECK_THROWS_AS(p.set_value(2), grove::error);
    CHECK_THROWS_AS(p.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
                    grove::error);
    int kept = p.get_future().get();
    CHECK(kept == 1);
  });
}

TEST_CASE("a promise destroyed unset breaks its futures instead of leaving them waiting") {
  grove::run([] {
    grove::future<int> f;
    {
      grove::promise<int> p;
      f = p.get_future();
      grove::spawn([p = std::move(p)]() mutable { grove::this_fiber::yield(); });
    }
    bool broken = grove_test::throws<grove::broken_promise>([&] { f.get(); });
    CHECK(broken);
  });
}

TEST_CASE("future<void> and move-only values") {
  grove::run([] {
    grove::promise<void> done;
    auto waiter = grove::spawn([f = done.get_future()] {
      f.get();
      return 1;
    });
    grove::this_fiber::yield();
    done.set_value();
    int result = waiter.get();
    CHECK(result == 1);

    grove::promise<std::unique_ptr<int>> boxed;
    boxed.set_value(std::make_unique<int>(7));
    int unboxed = *boxed.get_future().get();
    CHECK(unboxed == 7);
  });
}

TEST_CASE("wait_for times out on an unset future and succeeds once set from a callback") {
  grove::run([] {
    grove::promise<int> p;
    auto f = p.get_future();
    bool ready = f.wait_for(5ms);
    CHECK_FALSE(ready);
    ready = f.wait_until(std::chrono::steady_clock::now() + 5ms);
    CHECK_FALSE(ready);
    grove::call_later(5ms, [&] { p.set_value(3); });
    ready = f.wait_for(10s);
    CHECK(ready);
    int value = f.get();  // ready: no wait
    CHECK(value == 3);
  });
}

TEST_CASE("kill and scoped timeouts interrupt get, and the result still reaches other readers") {
  grove::run([] {
    grove::promise<int> p;
    auto f = p.get_future();
    auto victim = grove::spawn([f] { return f.get(); });
    auto reader = grove::spawn([f] { return f.get(); });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    bool killed = grove_test::throws<grove::killed_error>([&] { victim.get(); });
    CHECK(killed);
    {
      grove::timeout t(5ms);
      bool timed_out = grove_test::throws<grove::timeout_error>([&] { f.get(); });
      CHECK(timed_out);
    }
    p.set_value(9);
    int read = reader.get();
    CHECK(read == 9);
  });
}
