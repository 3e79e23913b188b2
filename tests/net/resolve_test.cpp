// Promises of <grove/net/resolve.hpp>: getaddrinfo on the offload pool, local names only.
#include <doctest/doctest.h>

#include <chrono>
#include <grove/grove.hpp>
#include <grove/net/resolve.hpp>  // first: the header is self-contained

using namespace std::chrono_literals;
namespace net = grove::net;

TEST_CASE("resolve(\"localhost\") gives loopback endpoints with the port") {
  grove::run([] {
    int ticks = 0;
    auto ticker = grove::spawn([&] {
      for (;;) {
        ++ticks;
        grove::this_fiber::sleep_for(1ms);
      }
    });
    auto endpoints = net::resolve("localhost", "8080");
    REQUIRE_FALSE(endpoints.empty());
    for (const auto& e : endpoints) {
      CHECK(e.address().is_loopback());
      CHECK(e.port() == 8080);
    }
    net::resolve_options v4;
    v4.family = AF_INET;
    for (const auto& e : net::resolve("localhost", "1", v4)) CHECK(e.address().is_v4());
    ticker.kill();
    CHECK(ticks >= 1);  // the hub kept running while getaddrinfo ran on a pool thread
  });
}

TEST_CASE("numeric hosts and passive (bind) lookups") {
  grove::run([] {
    auto e = net::resolve("127.0.0.1", "443");
    REQUIRE(e.size() == 1);
    CHECK(e[0].address().to_string() == "127.0.0.1");
    CHECK(e[0].port() == 443);
    net::resolve_options passive;
    passive.passive = true;
    passive.family = AF_INET;
    auto any = net::resolve("", "9000", passive);
    REQUIRE_FALSE(any.empty());
    CHECK(any[0].address().is_unspecified());
  });
}

TEST_CASE("an unknown service is a net_error in resolve_category") {
  grove::run([] {
    try {
      net::resolve("localhost", "no-such-grove-service");
      FAIL("resolved an unknown service");
    } catch (const net::net_error& e) {
      CHECK(e.code().category() == net::resolve_category());
      CHECK(std::string(e.what()).find("no-such-grove-service") != std::string::npos);
    }
  });
}
