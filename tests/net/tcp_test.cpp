// Promises of <grove/net/tcp.hpp> (and the stream_socket calls of socket.hpp over TCP): connect,
// accept, reads and writes, EOF, peer reset, close from another fiber, timeouts, options.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/net/tcp.hpp>  // first: the header is self-contained
#include <string>
#include <vector>

#include "../throws.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace net = grove::net;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// A listener on a free loopback port and a connected pair of streams (client, server side).
struct loopback_pair {
  net::tcp_listener listener = net::tcp_listener::bind("127.0.0.1", 0);
  net::tcp_stream client;
  net::tcp_stream server;
  loopback_pair() {
    auto accepting = grove::spawn([this] { server = listener.accept(); });
    client = net::tcp_stream::connect("127.0.0.1", listener.local_endpoint().port());
    accepting.get();
  }
};

/// Fills the peer's receive buffer and our send buffer, so the next write blocks.
void fill_send_buffer(net::tcp_stream& s) {
  s.set_option(SOL_SOCKET, SO_SNDBUF, 4096);
  std::string chunk(64 * 1024, 'x');
  s.set_timeout(50ms);
  try {
    for (int i = 0; i < 1000; ++i) s.write_all(chunk);
    FAIL("the send buffer never filled");
  } catch (const net::net_error& e) {
    REQUIRE(e.code() == std::errc::timed_out);
  }
  s.set_timeout(0ns);
}
}  // namespace

TEST_CASE("a client and a server exchange data over loopback") {
  grove::run([] {
    loopback_pair p;
    CHECK(p.client.is_open());
    CHECK(p.server.remote_endpoint() == p.client.local_endpoint());
    CHECK(p.client.remote_endpoint().port() == p.listener.local_endpoint().port());
    p.client.write_all("hello\nworld\n");
    std::string line = p.server.read_until("\n");
    CHECK(line == "hello\n");
    char buf[16];
    std::size_t n = p.server.read_some(boost::asio::buffer(buf));  // served from read-ahead
    CHECK(std::string(buf, n) == "world\n");
    p.server.write_all(boost::asio::buffer(std::string("0123456789")));
    char exact[10];
    p.client.read_exact(boost::asio::buffer(exact));
    CHECK(std::string(exact, 10) == "0123456789");
  });
}

TEST_CASE("end of stream: read_some returns 0, read_until returns the rest then empty") {
  grove::run([] {
    loopback_pair p;
    p.client.write_all("partial");
    p.client.shutdown(net::shutdown_type::send);
    std::string line = p.server.read_until("\n");
    CHECK(line == "partial");
    line = p.server.read_until("\n");
    CHECK(line.empty());
    char buf[8];
    std::size_t n = p.server.read_some(boost::asio::buffer(buf));
    CHECK(n == 0);
    n = p.server.read_some(boost::asio::buffer(buf));
    CHECK(n == 0);  // sticky
    boost::system::error_code ec;
    n = p.server.read_some(boost::asio::buffer(buf), ec);
    CHECK(n == 0);
    CHECK(ec == boost::asio::error::eof);
    try {
      p.server.read_exact(boost::asio::buffer(buf));
      FAIL("read_exact past the end");
    } catch (const net::net_error& e) {
      CHECK(e.code() == net::net_errc::end_of_stream);
    }
  });
}

TEST_CASE("read_all returns what read_until read ahead and the rest, up to end of stream") {
  grove::run([] {
    loopback_pair p;
    std::string big(200 * 1024, 'b');  // several kernel reads
    auto writer = grove::spawn([&] {
      p.client.write_all("head\n" + big);
      p.client.shutdown(net::shutdown_type::send);
    });
    std::string line = p.server.read_until("\n");
    CHECK(line == "head\n");
    std::string rest = p.server.read_all();
    CHECK(rest == big);
    rest = p.server.read_all();
    CHECK(rest.empty());
    writer.join();
  });
}

TEST_CASE("peer reset is net_error(connection_reset) on read, and a write after it fails cleanly") {
  grove::run([] {
    loopback_pair p;
    ::linger abort_on_close{1, 0};
    REQUIRE(::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
                         sizeof abort_on_close) == 0);
    p.client.close();  // sends RST
    char buf[8];
    try {
      p.server.read_some(boost::asio::buffer(buf));
      FAIL("read after a reset");
    } catch (const net::net_error& e) {
      CHECK(e.code() == std::errc::connection_reset);
    }
    try {
      for (int i = 0; i < 10; ++i) p.server.write_all("after reset");
      FAIL("write after a reset");
    } catch (const net::net_error& e) {
      CHECK((e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset));
    }
  });
}

TEST_CASE("closing a stream from another fiber wakes its reader and writer with a clear error") {
  grove::run([] {
    loopback_pair p;
    fill_send_buffer(p.server);
    std::string reader_error, writer_error;
    auto reader = grove::spawn([&] {
      char buf[8];
      try {
        p.server.read_some(boost::asio::buffer(buf));
      } catch (const net::net_error& e) {
        CHECK(e.code() == std::errc::bad_file_descriptor);
        reader_error = e.what();
      }
    });
    auto writer = grove::spawn([&] {
      try {
        p.server.write_all(std::string(1 << 20, 'y'));
      } catch (const net::net_error& e) {
        CHECK(e.code() == std::errc::bad_file_descriptor);
        writer_error = e.what();
      }
    });
    grove::this_fiber::sleep_for(20ms);
    CHECK_FALSE(reader.ready());
    CHECK_FALSE(writer.ready());
    auto start = clock_type::now();
    p.server.close();
    reader.get();
    writer.get();
    CHECK(ms_since(start) < 5000);  // woken by the close, not a hang (generous: loaded CI)
    CHECK(reader_error.find("read") != std::string::npos);
    CHECK(writer_error.find("write") != std::string::npos);
    CHECK_FALSE(p.server.is_open());
    char buf[1];
    bool refused =
        grove_test::throws<net::net_error>([&] { p.server.read_some(boost::asio::buffer(buf)); });
    CHECK(refused);
  });
}

TEST_CASE("closing a listener wakes the fiber blocked in accept") {
  grove::run([] {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto acceptor = grove::spawn([&] {
      try {
        listener.accept();
        return std::error_code();
      } catch (const net::net_error& e) {
        return e.code();
      }
    });
    grove::this_fiber::sleep_for(10ms);
    listener.close();
    std::error_code accept_error = acceptor.get();
    CHECK(accept_error == std::errc::bad_file_descriptor);
  });
}

TEST_CASE("one fiber reads while another writes the same stream") {
  grove::run([] {
    loopback_pair p;
    auto echo = grove::spawn([&] {  // the peer echoes everything back
      char buf[16384];
      while (std::size_t n = p.server.read_some(boost::asio::buffer(buf))) {
        p.server.write_all(boost::asio::buffer(buf, n));
      }
      p.server.shutdown(net::shutdown_type::send);
    });
    constexpr std::size_t total = 4 << 20;
    std::string sent(total, '\0');
    for (std::size_t i = 0; i < total; ++i) sent[i] = static_cast<char>(i * 7 + i / 4096);
    auto writer = grove::spawn([&] {
      for (std::size_t off = 0; off < total; off += 100000) {
        p.client.write_all(
            boost::asio::buffer(sent.data() + off, std::min<std::size_t>(100000, total - off)));
      }
      p.client.shutdown(net::shutdown_type::send);
    });
    std::string received;
    char buf[65536];
    while (std::size_t n = p.client.read_some(boost::asio::buffer(buf))) received.append(buf, n);
    writer.get();
    echo.get();
    CHECK(received.size() == total);
    CHECK(received == sent);
  });
}

TEST_CASE(
    "a socket timeout bounds reads and writes with net_error(timed_out); the stream survives") {
  grove::run([] {
    loopback_pair p;
    p.server.set_timeout(50ms);
    CHECK(p.server.timeout() == 50ms);
    char buf[8];
    auto start = clock_type::now();
    try {
      p.server.read_some(boost::asio::buffer(buf));
      FAIL("read without data");
    } catch (const net::net_error& e) {
      CHECK(e.code() == std::errc::timed_out);
      CHECK(std::string(e.what()).find("50 ms") != std::string::npos);
    }
    double waited = ms_since(start);
    CHECK(waited >= 45);
    CHECK(waited < 500);
    boost::system::error_code ec;
    std::size_t n = p.server.read_some(boost::asio::buffer(buf), ec);
    CHECK(n == 0);
    CHECK(ec == boost::asio::error::timed_out);
    p.client.write_all("late");
    n = p.server.read_some(boost::asio::buffer(buf));
    CHECK(n == 4);

    fill_send_buffer(p.client);  // ends with a write that timed out after 50 ms
    p.client.set_timeout(30ms);
    bool failed = grove_test::throws<net::net_error>([&] { p.client.write_all("more"); });
    CHECK(failed);
  });
}

TEST_CASE("a scoped grove::timeout interrupts a read and a write with timeout_error") {
  grove::run([] {
    loopback_pair p;
    char buf[8];
    bool timed_out = grove_test::throws<grove::timeout_error>([&] {
      grove::with_timeout(30ms, [&] { return p.server.read_some(boost::asio::buffer(buf)); });
    });
    CHECK(timed_out);
    fill_send_buffer(p.client);
    auto start = clock_type::now();
    timed_out = grove_test::throws<grove::timeout_error>(
        [&] { grove::with_timeout(30ms, [&] { p.client.write_all(std::string(1 << 20, 'z')); }); });
    CHECK(timed_out);
    CHECK(ms_since(start) < 300);
    p.client.write_all("");  // nothing to write never waits
    p.server.set_timeout(1s);
    std::size_t n = p.server.read_some(boost::asio::buffer(buf));
    CHECK(n > 0);  // the stream still works
  });
}

TEST_CASE("kill of a fiber blocked in a read unwinds it; the stream stays usable") {
  grove::run([] {
    loopback_pair p;
    auto reader = grove::spawn([&] {
      char buf[8];
      p.server.read_some(boost::asio::buffer(buf));
    });
    grove::this_fiber::sleep_for(10ms);
    reader.kill();
    reader.join();
    bool killed = grove_test::throws<grove::killed_error>([&] { reader.get(); });
    CHECK(killed);
    p.client.write_all("x");
    char buf[8];
    std::size_t n = p.server.read_some(boost::asio::buffer(buf));
    CHECK(n == 1);
  });
}

TEST_CASE("connect: refused, by name, and timeouts while the peer never answers") {
  grove::run([] {
    std::uint16_t closed_port;
    {
      auto l = net::tcp_listener::bind("127.0.0.1", 0);
      closed_port = l.local_endpoint().port();
    }
    try {
      net::tcp_stream::connect("127.0.0.1", closed_port);
      FAIL("connect to a closed port");
    } catch (const net::net_error& e) {
      CHECK(e.code() == std::errc::connection_refused);
      CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(closed_port)) !=
            std::string::npos);
    }

    net::listen_options tiny;
    tiny.backlog = 0;
    auto listener = net::tcp_listener::bind("127.0.0.1", 0, tiny);
    auto port = listener.local_endpoint().port();
    auto by_name =
        net::tcp_stream::connect("localhost", port);  // "localhost" resolves cooperatively
    CHECK(by_name.remote_endpoint().address().is_loopback());
    // The accept queue is full (nobody accepts): further SYNs are dropped, connects hang.
    std::vector<net::tcp_stream> filling;
    bool hung = false;
    for (int i = 0; i < 8 && !hung; ++i) {
      try {
        filling.push_back(net::tcp_stream::connect("127.0.0.1", port, 100ms));
      } catch (const net::net_error& e) {
        CHECK(e.code() == std::errc::timed_out);
        hung = true;
      }
    }
    REQUIRE(hung);
    auto start = clock_type::now();
    bool timed_out = grove_test::throws<grove::timeout_error>([&] {
      grove::with_timeout(50ms, [&] { return net::tcp_stream::connect("127.0.0.1", port); });
    });
    CHECK(timed_out);
    CHECK(ms_since(start) < 300);
  });
}

TEST_CASE("options: TCP_NODELAY, keep-alive, SO_REUSEPORT listeners sharing a port") {
  grove::run([] {
    loopback_pair p;
    p.client.set_no_delay();
    CHECK(p.client.get_option(IPPROTO_TCP, TCP_NODELAY) != 0);
    p.client.set_no_delay(false);
    CHECK(p.client.get_option(IPPROTO_TCP, TCP_NODELAY) == 0);
    p.client.set_keep_alive();
    CHECK(p.client.get_option(SOL_SOCKET, SO_KEEPALIVE) != 0);

    net::listen_options shared;
    shared.reuse_port = true;
    auto a = net::tcp_listener::bind("127.0.0.1", 0, shared);
    auto b = net::tcp_listener::bind(a.local_endpoint(), shared);
    CHECK(a.local_endpoint() == b.local_endpoint());
    CHECK_THROWS_AS(net::tcp_listener::bind(a.local_endpoint()), net::net_error);  // no reuse_port
  });
}

TEST_CASE("Asio's synchronous algorithms work on a tcp_stream") {
  grove::run([] {
    loopback_pair p;
    p.client.write_all("abc|def|");
    std::string data;
    std::size_t n = boost::asio::read_until(p.server, boost::asio::dynamic_buffer(data), '|');
    CHECK(data.substr(0, n) == "abc|");
    boost::asio::write(p.server, boost::asio::buffer(std::string("xyz")));
    char buf[3];
    boost::asio::read(p.client, boost::asio::buffer(buf));
    CHECK(std::string(buf, 3) == "xyz");
  });
}

TEST_CASE("a short read never hides an end of stream or a reset that arrived with the data") {
  // The reader skips the recv that would fail after a short read; the end of stream (or the
  // reset) that came in the same epoll edge must still be seen at once, never waited for.
  grove::run([] {
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto port = listener.local_endpoint().port();
    for (int i = 0; i < 200; ++i) {
      auto client = net::tcp_stream::connect("127.0.0.1", port);
      auto server = listener.accept();
      server.set_timeout(2s);
      bool reset = i % 2 == 1;
      if (i % 4 < 2) grove::this_fiber::yield();  // sometimes let the hub see the connection first
      client.write_all("abc");
      if (reset) {
        ::linger abort_on_close{1, 0};
        ::setsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
                     sizeof abort_on_close);
        client.close();
      } else {
        client.shutdown(net::shutdown_type::send);
      }
      char buf[64];
      try {
        std::size_t total = 0;
        while (std::size_t n = server.read_some(boost::asio::buffer(buf))) total += n;
        CHECK(total == 3);
      } catch (const net::net_error& e) {
        REQUIRE_MESSAGE(e.code() == std::errc::connection_reset, e.what());  // never timed_out
        CHECK(reset);
      }
    }
  });
}

TEST_CASE("a socket that outlives its hub can still be closed; another hub cannot wait on it") {
  net::tcp_listener survivor;
  grove::run([&] { survivor = net::tcp_listener::bind("127.0.0.1", 0); });
  CHECK(survivor.is_open());
  grove::run([&] {
    try {
      survivor.accept();
      FAIL("accepted in another hub");
    } catch (const grove::error& e) {
      CHECK(std::string(e.what()).find("hub") != std::string::npos);
    }
  });
  survivor.close();
  CHECK_FALSE(survivor.is_open());
}

TEST_CASE("a reset arriving while a fiber waits mid-read wakes it with connection_reset") {
  grove::run([] {
    loopback_pair p;
    auto reader = grove::spawn([&] {
      try {
        p.server.read_until("\n");  // gets "partial" first, then waits for the rest
        return std::error_code();
      } catch (const net::net_error& e) {
        return e.code();
      }
    });
    p.client.write_all("partial");
    grove::this_fiber::sleep_for(20ms);
    REQUIRE_FALSE(reader.ready());
    ::linger abort_on_close{1, 0};
    REQUIRE(::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
                         sizeof abort_on_close) == 0);
    auto start = clock_type::now();
    p.client.close();  // RST while the reader is suspended
    std::error_code read_error = reader.get();
    CHECK(read_error == std::errc::connection_reset);
    CHECK(ms_since(start) < 1000);
  });
}

TEST_CASE("closing a stream wakes every fiber waiting on it, several in each direction") {
  grove::run([] {
    loopback_pair p;
    fill_send_buffer(p.server);
    int woken = 0;
    std::vector<grove::fiber<void>> waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.push_back(grove::spawn([&] {
        char buf[8];
        bool failed = grove_test::throws<net::net_error>(
            [&] { p.server.read_some(boost::asio::buffer(buf)); });
        CHECK(failed);
        ++woken;
      }));
      waiters.push_back(grove::spawn([&] {
        bool failed = grove_test::throws<net::net_error>(
            [&] { p.server.write_all(std::string(1 << 16, 'z')); });
        CHECK(failed);
        ++woken;
      }));
    }
    grove::this_fiber::sleep_for(20ms);
    REQUIRE(woken == 0);
    p.server.close();
    for (auto& w : waiters) w.join();
    CHECK(woken == 6);
  });
}

TEST_CASE("kill ends a wait in accept, write and a connect that hangs; each can be used again") {
  grove::run([] {
    // accept
    auto listener = net::tcp_listener::bind("127.0.0.1", 0);
    auto acceptor = grove::spawn([&] { listener.accept(); });
    grove::this_fiber::sleep_for(10ms);
    acceptor.kill();
    acceptor.join();
    bool killed = grove_test::throws<grove::killed_error>([&] { acceptor.get(); });
    CHECK(killed);
    auto again = grove::spawn([&] { return listener.accept(); });
    auto client = net::tcp_stream::connect("127.0.0.1", listener.local_endpoint().port());
    auto server = again.get();

    // write
    fill_send_buffer(server);
    auto writer = grove::spawn([&] { server.write_all(std::string(1 << 20, 'w')); });
    grove::this_fiber::sleep_for(10ms);
    REQUIRE_FALSE(writer.ready());
    writer.kill();
    writer.join();
    killed = grove_test::throws<grove::killed_error>([&] { writer.get(); });
    CHECK(killed);

    // connect: a full accept queue drops SYNs, so the next connect hangs
    net::listen_options tiny;
    tiny.backlog = 0;
    auto full = net::tcp_listener::bind("127.0.0.1", 0, tiny);
    auto port = full.local_endpoint().port();
    std::vector<net::tcp_stream> filling;
    bool hung = false;
    for (int i = 0; i < 8 && !hung; ++i) {
      try {
        filling.push_back(net::tcp_stream::connect("127.0.0.1", port, 100ms));
      } catch (const net::net_error&) {
        hung = true;
      }
    }
    REQUIRE(hung);
    auto connector = grove::spawn([&] { net::tcp_stream::connect("127.0.0.1", port); });
    grove::this_fiber::sleep_for(20ms);
    REQUIRE_FALSE(connector.ready());
    auto start = clock_type::now();
    connector.kill();
    connector.join();
    CHECK(ms_since(start) < 300);
    killed = grove_test::throws<grove::killed_error>([&] { connector.get(); });
    CHECK(killed);
  });
}
