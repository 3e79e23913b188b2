// Promises of <grove/net/udp.hpp>: datagram round trips, truncation, timeouts, close.
#include <doctest/doctest.h>

#include <chrono>
#include <grove/grove.hpp>
#include <grove/net/udp.hpp>  // first: the header is self-contained
#include <string>

#include "../throws.hpp"

using namespace std::chrono_literals;
namespace net = grove::net;

TEST_CASE("a UDP round trip on loopback between two fibers") {
  grove::run([] {
    auto server = net::udp_socket::bind("127.0.0.1", 0);
    auto port = server.local_endpoint().port();
    CHECK(port != 0);
    auto echo = grove::spawn([&] {
      for (int i = 0; i < 3; ++i) {
        char buf[1500];
        auto got = server.receive_from(boost::asio::buffer(buf));
        server.send_to(boost::asio::buffer(buf, got.size), got.sender);
      }
    });
    auto client = net::udp_socket::open();
    for (int i = 0; i < 3; ++i) {
      std::string ping = "ping " + std::to_string(i);
      std::size_t sent = client.send_to(ping, server.local_endpoint());
      CHECK(sent == ping.size());
      char buf[1500];
      auto got = client.receive_from(boost::asio::buffer(buf));
      CHECK(std::string(buf, got.size) == ping);
      CHECK(got.sender.port() == port);
      CHECK_FALSE(got.truncated);
    }
    echo.get();
  });
}

TEST_CASE("a datagram larger than the buffer is truncated and says so") {
  grove::run([] {
    auto a = net::udp_socket::bind("127.0.0.1", 0);
    auto b = net::udp_socket::bind("127.0.0.1", 0);
    a.send_to(std::string(100, 'd'), b.local_endpoint());
    char small[10];
    auto got = b.receive_from(boost::asio::buffer(small));
    CHECK(got.size == 10);
    CHECK(got.truncated);
    CHECK(got.sender == a.local_endpoint());
  });
}

TEST_CASE("receive_from honours the socket timeout, scoped timeouts and close from another fiber") {
  grove::run([] {
    auto s = net::udp_socket::bind("127.0.0.1", 0);
    char buf[16];
    s.set_timeout(20ms);
    try {
      s.receive_from(boost::asio::buffer(buf));
      FAIL("nothing was sent");
    } catch (const net::net_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }
    s.set_timeout(0ns);
    bool timed_out = grove_test::throws<grove::timeout_error>([&] {
      grove::with_timeout(20ms, [&] { return s.receive_from(boost::asio::buffer(buf)); });
    });
    CHECK(timed_out);
    auto waiter = grove::spawn([&] {
      try {
        s.receive_from(boost::asio::buffer(buf));
      } catch (const net::net_error& e) {
        return e.code();
      }
      return std::error_code();
    });
    grove::this_fiber::sleep_for(10ms);
    s.close();
    std::error_code receive_error = waiter.get();
    CHECK(receive_error == std::errc::bad_file_descriptor);
  });
}
