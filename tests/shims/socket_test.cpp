// Promises of the socket and descriptor shims (shims/socket.cpp, shims/fd.cpp), linked as a user
// links them: plain blocking libc code (socket, connect, accept, recv, send, read, write...) in
// fibers runs concurrently; close wakes waiters; the user's O_NONBLOCK, dup'ed descriptors,
// SO_RCVTIMEO, kills and scoped timeouts all behave as documented. Loopback only.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <grove/grove.hpp>
#include <grove/net/tcp.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// A blocking socketpair, created with plain libc (as a user's code would).
struct socket_pair {
  int a = -1, b = -1;
  socket_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    a = fds[0];
    b = fds[1];
  }
  ~socket_pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

/// Counts how often it ran while others were blocked: proof that a blocking call yielded.
struct ticker {
  int ticks = 0;
  bool stop = false;
  grove::fiber<void> f = grove::spawn([this] {
    while (!stop && ticks < 10000) {
      ++ticks;
      grove::this_fiber::sleep_for(1ms);
    }
  });
  ~ticker() {
    stop = true;
    f.join();
  }
};

/// A listening TCP socket on 127.0.0.1, made with plain libc; port() says where.
struct plain_listener {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  plain_listener() {
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 128) == 0);
  }
  ~plain_listener() { ::close(fd); }
  sockaddr_in address() const {
    sockaddr_in a{};
    socklen_t n = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0);
    return a;
  }
};

int plain_connect(const sockaddr_in& to) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

bool send_all(int fd, const void* data, size_t n) { return ::send(fd, data, n, 0) == ssize_t(n); }

}  // namespace

TEST_CASE("plain blocking recv in fibers: many wait at once and each wakes for its own data") {
  grove::run([] {
    constexpr int count = 20;
    std::vector<socket_pair> pairs(count);
    std::vector<grove::fiber<std::string>> readers;
    for (auto& p : pairs) {
      readers.push_back(grove::spawn([&p] {
        char buf[32];
        ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, n) : "error " + std::to_string(errno);
      }));
    }
    ticker t;
    auto start = clock_type::now();
    grove::this_fiber::sleep_for(30ms);  // every reader is blocked in recv by now
    for (int i = count - 1; i >= 0; --i) {
      std::string msg = "m" + std::to_string(i);
      ssize_t sent = ::send(pairs[i].a, msg.data(), msg.size(), 0);
      REQUIRE(sent == ssize_t(msg.size()));
    }
    for (int i = 0; i < count; ++i) {
      std::string got = readers[i].get();
      CHECK(got == "m" + std::to_string(i));
    }
    CHECK(ms_since(start) < 5000);
    CHECK(t.ticks >= 2);  // the hub kept running other fibers while they all blocked
  });
}

TEST_CASE("plain read and write on a pipe block only their fiber") {
  grove::run([] {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ticker t;
    auto reader = grove::spawn([&] {
      char buf[16];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      return std::string(buf, n > 0 ? n : 0);
    });
    grove::this_fiber::sleep_for(30ms);
    CHECK(t.ticks >= 2);
    ssize_t written = ::write(fds[1], "pipe!", 5);
    REQUIRE(written == 5);
    std::string got = reader.get();
    CHECK(got == "pipe!");
    ::close(fds[0]);
    ::close(fds[1]);
  });
}

TEST_CASE("a TCP echo server and its clients, all plain blocking libc calls, run concurrently") {
  grove::run([] {
    plain_listener listener;
    constexpr int clients = 10, rounds = 50;
    auto server = grove::spawn([&] {
      std::vector<grove::fiber<void>> connections;
      for (int i = 0; i < clients; ++i) {
        int conn = ::accept(listener.fd, nullptr, nullptr);
        REQUIRE(conn >= 0);
        connections.push_back(grove::spawn([conn] {
          char buf[256];
          for (;;) {
            ssize_t n = ::recv(conn, buf, sizeof buf, 0);
            if (n <= 0) break;
            if (!send_all(conn, buf, n)) break;
          }
          ::close(conn);
        }));
      }
      for (auto& c : connections) c.join();
    });
    std::vector<grove::fiber<int>> users;
    for (int i = 0; i < clients; ++i) {
      users.push_back(grove::spawn([&, i] {
        int fd = plain_connect(listener.address());
        REQUIRE(fd >= 0);
        int ok = 0;
        for (int r = 0; r < rounds; ++r) {
          std::string msg = "client " + std::to_string(i) + " round " + std::to_string(r);
          bool sent = send_all(fd, msg.data(), msg.size());
          REQUIRE(sent);
          std::string got;
          while (got.size() < msg.size()) {
            char buf[256];
            ssize_t n = ::read(fd, buf, sizeof buf);
            REQUIRE(n > 0);
            got.append(buf, n);
          }
          ok += got == msg;
        }
        ::close(fd);
        return ok;
      }));
    }
    for (auto& u : users) {
      int ok = u.get();
      CHECK(ok == rounds);
    }
    server.get();
  });
}

TEST_CASE("connect to a port nobody listens on fails with ECONNREFUSED, in a fiber too") {
  grove::run([] {
    sockaddr_in to;
    {
      plain_listener l;
      to = l.address();
    }  // closed: the port now refuses
    errno = 0;
    int fd = plain_connect(to);
    int error = errno;
    CHECK(fd == -1);
    CHECK(error == ECONNREFUSED);
  });
}

TEST_CASE("SO_RCVTIMEO makes a blocked recv fail with EAGAIN after the timeout, cooperatively") {
  grove::run([] {
    socket_pair p;
    timeval tv{0, 100 * 1000};
    REQUIRE(::setsockopt(p.b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    ticker t;
    char buf[8];
    auto start = clock_type::now();
    errno = 0;
    ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
    int error = errno;
    CHECK(n == -1);
    CHECK(error == EAGAIN);
    double elapsed = ms_since(start);
    CHECK(elapsed >= 90);
    CHECK(elapsed < 3000);
    CHECK(t.ticks >= 2);
  });
}

TEST_CASE("close from another fiber wakes a fiber blocked in recv with EBADF") {
  grove::run([] {
    socket_pair p;
    auto reader = grove::spawn([&] {
      char buf[8];
      errno = 0;
      ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
      return n == -1 ? errno : 0;
    });
    grove::this_fiber::sleep_for(20ms);
    ::close(p.b);
    p.b = -1;
    int error = reader.get();
    CHECK(error == EBADF);
  });
}

TEST_CASE("the user's O_NONBLOCK is honoured: EAGAIN at once, no waiting") {
  grove::run([] {
    socket_pair p;
    int flags = ::fcntl(p.b, F_GETFL);
    REQUIRE(::fcntl(p.b, F_SETFL, flags | O_NONBLOCK) == 0);
    char buf[8];
    errno = 0;
    ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
    int error = errno;
    CHECK(n == -1);
    CHECK(error == EAGAIN);
    n = ::read(p.b, buf, sizeof buf);
    error = errno;
    CHECK(n == -1);
    CHECK(error == EAGAIN);
    int off = 0;
    REQUIRE(::ioctl(p.b, FIONBIO, &off) == 0);
    CHECK((::fcntl(p.b, F_GETFL) & O_NONBLOCK) == 0);
    // Blocking again: this recv waits (cooperatively) for the data sent later.
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(20ms);
      ::send(p.a, "x", 1, 0);
    });
    n = ::recv(p.b, buf, sizeof buf, 0);
    CHECK(n == 1);
    writer.join();
    // MSG_DONTWAIT asks for one non-blocking call.
    n = ::recv(p.b, buf, sizeof buf, MSG_DONTWAIT);
    error = errno;
    CHECK(n == -1);
    CHECK(error == EAGAIN);
  });
}

TEST_CASE("F_GETFL shows the user's view; dup'ed descriptors share O_NONBLOCK") {
  grove::run([] {
    socket_pair p;
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      ::send(p.a, "y", 1, 0);
    });
    char buf[4];
    ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
    CHECK(n == 1);  // grove made the kernel's flag non-blocking
    writer.join();
    CHECK((::fcntl(p.b, F_GETFL) & O_NONBLOCK) == 0);  // the user still sees a blocking socket
    int copy = ::dup(p.b);
    REQUIRE(copy >= 0);
    CHECK((::fcntl(copy, F_GETFL) & O_NONBLOCK) == 0);
    int on = 1;
    REQUIRE(::ioctl(copy, FIONBIO, &on) == 0);         // one open file description...
    CHECK((::fcntl(p.b, F_GETFL) & O_NONBLOCK) != 0);  // ...so the original sees it too
    errno = 0;
    n = ::recv(p.b, buf, sizeof buf, 0);
    int error = errno;
    CHECK(n == -1);
    CHECK(error == EAGAIN);
    int third = ::fcntl(copy, F_DUPFD_CLOEXEC, 0);
    REQUIRE(third >= 0);
    REQUIRE(::fcntl(third, F_SETFL, 0) == 0);  // clear it through a third descriptor
    CHECK((::fcntl(copy, F_GETFL) & O_NONBLOCK) == 0);
    int target = ::dup2(p.b, 200);
    CHECK(target == 200);
    CHECK((::fcntl(200, F_GETFL) & O_NONBLOCK) == 0);
    ::close(200);
    ::close(third);
    ::close(copy);
  });
}

TEST_CASE("a large write to a blocking socket writes everything while the reader drains it") {
  grove::run([] {
    socket_pair p;
    int small = 4096;
    ::setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    std::string data(1 << 20, 'z');
    for (std::size_t i = 0; i < data.size(); i += 4096) data[i] = char('a' + (i / 4096) % 26);
    auto reader = grove::spawn([&] {
      std::string got;
      char buf[65536];
      while (got.size() < data.size()) {
        ssize_t n = ::read(p.b, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, n);
      }
      return got;
    });
    ssize_t written = ::write(p.a, data.data(), data.size());
    CHECK(written == ssize_t(data.size()));
    std::string got = reader.get();
    CHECK(got == data);
  });
}

TEST_CASE("kill and a scoped timeout end a blocked recv with ECANCELED and ETIMEDOUT") {
  grove::run([] {
    socket_pair p;
    int seen = 0;
    auto victim = grove::spawn([&] {
      char buf[4];
      errno = 0;
      ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
      seen = n == -1 ? errno : 0;
      grove::this_fiber::yield();  // the kill is raised at the next grove wait
      seen = -1;
    });
    grove::this_fiber::sleep_for(10ms);
    victim.kill();
    victim.join();
    CHECK(seen == ECANCELED);

    auto start = clock_type::now();
    int timed = 0;
    try {
      grove::timeout scope(50ms);
      char buf[4];
      errno = 0;
      ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
      timed = n == -1 ? errno : 0;
      grove::this_fiber::yield();
      FAIL("the timeout should have been raised at the next grove wait");
    } catch (const grove::timeout_error&) {
    }
    CHECK(timed == ETIMEDOUT);
    CHECK(ms_since(start) < 3000);
    // The socket still works afterwards.
    ssize_t sent = ::send(p.a, "ok", 2, 0);
    REQUIRE(sent == 2);
    char buf[4];
    ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
    CHECK(n == 2);
  });
}

TEST_CASE("a grove::net socket used through plain recv and send shares its registration") {
  grove::run([] {
    auto listener = grove::net::tcp_listener::bind("127.0.0.1", 0);
    auto accepting = grove::spawn([&] { return listener.accept(); });
    auto client = grove::net::tcp_stream::connect("127.0.0.1", listener.local_endpoint().port());
    auto server = accepting.get();
    auto echo = grove::spawn([&] {
      char buf[16];
      ssize_t n = ::recv(server.native_handle(), buf, sizeof buf, 0);  // plain call, grove fd
      if (n > 0) ::send(server.native_handle(), buf, n, 0);
    });
    grove::this_fiber::sleep_for(10ms);  // the echo fiber is blocked in its plain recv
    client.write_all("ping");
    char buf[4];
    client.read_exact(boost::asio::buffer(buf));
    CHECK(std::string(buf, 4) == "ping");
    echo.join();
  });
}

TEST_CASE("outside fibers, a socket grove made non-blocking still blocks as libc's would") {
  socket_pair p;
  grove::run([&] {
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(5ms);
      ::send(p.a, "1", 1, 0);
    });
    char buf[4];
    ssize_t n = ::recv(p.b, buf, sizeof buf, 0);
    CHECK(n == 1);  // cooperative: the kernel flag is set now
    writer.join();
  });
  std::thread late_writer([&] {
    std::this_thread::sleep_for(50ms);
    ::send(p.a, "2", 1, 0);
  });
  char buf[4];
  auto start = clock_type::now();
  CHECK(::recv(p.b, buf, sizeof buf, 0) == 1);  // blocks (no EAGAIN) until the data comes
  CHECK(ms_since(start) >= 30);
  late_writer.join();
}
