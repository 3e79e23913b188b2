// Promises of <grove/net/unix.hpp>: Unix-domain listeners and streams, socketpairs, abstract
// names, stale socket files.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <grove/grove.hpp>
#include <grove/net/unix.hpp>  // first: the header is self-contained
#include <string>

namespace net = grove::net;

namespace {
std::string temp_path(const char* name) {
  return "/tmp/grove_test_" + std::to_string(::getpid()) + "_" + name + ".sock";
}
}  // namespace

TEST_CASE("a unix listener and stream echo lines between fibers") {
  grove::run([] {
    std::string path = temp_path("echo");
    auto listener = net::unix_listener::bind(path);
    CHECK(listener.path() == path);
    auto server = grove::spawn([&] {
      auto conn = listener.accept();
      while (true) {
        auto line = conn.read_until("\n");
        if (line.empty()) break;
        conn.write_all("echo: " + line);
      }
    });
    auto conn = net::unix_stream::connect(path);
    for (int i = 0; i < 3; ++i) {
      conn.write_all("line " + std::to_string(i) + "\n");
      std::string echoed = conn.read_until("\n");
      CHECK(echoed == "echo: line " + std::to_string(i) + "\n");
    }
    conn.shutdown(net::shutdown_type::send);
    server.get();
    char buf[4];
    std::size_t n = conn.read_some(boost::asio::buffer(buf));
    CHECK(n == 0);
    ::unlink(path.c_str());
  });
}

TEST_CASE("pair() gives two connected streams; closing one wakes a reader of the other with EOF") {
  grove::run([] {
    auto [a, b] = net::unix_stream::pair();
    auto reader = grove::spawn([&b] {
      char buf[16];
      std::size_t total = 0;
      while (std::size_t n = b.read_some(boost::asio::buffer(buf))) total += n;
      return total;
    });
    a.write_all("12345");
    a.close();
    std::size_t total = reader.get();
    CHECK(total == 5);
  });
}

TEST_CASE("abstract names need no file; a stale socket file is replaced; errors are clear") {
  grove::run([] {
    std::string abstract = std::string(1, '\0') + "grove_test_" + std::to_string(::getpid());
    auto listener = net::unix_listener::bind(abstract);
    auto accepting = grove::spawn([&] { return listener.accept(); });
    auto conn = net::unix_stream::connect(abstract);
    auto peer = accepting.get();
    conn.write_all("x");
    char c;
    std::size_t n = peer.read_some(boost::asio::buffer(&c, 1));
    CHECK(n == 1);

    std::string path = temp_path("stale");
    { auto first = net::unix_listener::bind(path); }  // leaves its file behind
    struct ::stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    auto second = net::unix_listener::bind(path);  // reuse_address (default) replaces it
    net::listen_options strict;
    strict.reuse_address = false;
    CHECK_THROWS_AS(net::unix_listener::bind(path, strict), net::net_error);
    second.close();
    ::unlink(path.c_str());

    std::string regular = temp_path("regular");
    std::ofstream(regular) << "not a socket";
    try {
      net::unix_listener::bind(regular);
      FAIL("bind over a regular file");
    } catch (const net::net_error& e) {
      CHECK(e.code() == std::errc::address_in_use);
    }
    ::unlink(regular.c_str());

    try {
      net::unix_stream::connect(temp_path("missing"));
      FAIL("connect to a missing path");
    } catch (const net::net_error& e) {
      CHECK(e.code() == std::errc::no_such_file_or_directory);
    }
    CHECK_THROWS_AS(net::unix_listener::bind(std::string(200, 'p')), net::net_error);
  });
}
