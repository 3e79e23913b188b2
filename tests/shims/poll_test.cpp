// Promises of the readiness shims (shims/poll.cpp), linked as a user links them: poll, ppoll,
// select, pselect and epoll_wait in a fiber are one cooperative suspension on every descriptor
// named; a zero timeout never yields; timeouts, kills and closes end the wait as documented.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <grove/grove.hpp>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

struct pipe_fds {
  int r = -1, w = -1;
  pipe_fds() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~pipe_fds() {
    ::close(r);
    ::close(w);
  }
};

/// Counts its turns while others wait: proof that a wait yielded.
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

}  // namespace

TEST_CASE("poll on several descriptors waits cooperatively and reports the one that is ready") {
  grove::run([] {
    std::vector<pipe_fds> pipes(5);
    ticker t;
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(30ms);
      ssize_t written = ::write(pipes[3].w, "x", 1);
      REQUIRE(written == 1);
    });
    std::vector<pollfd> fds;
    for (auto& p : pipes) fds.push_back({p.r, POLLIN, 0});
    auto start = clock_type::now();
    int ready = ::poll(fds.data(), fds.size(), 5000);
    CHECK(ready == 1);
    CHECK(ms_since(start) >= 20);
    CHECK(t.ticks >= 2);
    for (std::size_t i = 0; i < fds.size(); ++i) CHECK((fds[i].revents != 0) == (i == 3));
    writer.join();
  });
}

TEST_CASE("poll with a zero timeout never yields; with a timeout it returns 0 in time") {
  grove::run([] {
    pipe_fds p;
    int ran = 0;
    auto other = grove::spawn([&] { ++ran; });
    pollfd fd{p.r, POLLIN, 0};
    for (int i = 0; i < 100; ++i) {
      int ready = ::poll(&fd, 1, 0);
      CHECK(ready == 0);
    }
    CHECK(ran == 0);  // never yielded
    auto start = clock_type::now();
    int ready = ::poll(&fd, 1, 100);
    CHECK(ready == 0);
    double elapsed = ms_since(start);
    CHECK(elapsed >= 90);
    CHECK(elapsed < 3000);
    CHECK(ran == 1);
    other.join();
    // No descriptor at all: a cooperative sleep.
    start = clock_type::now();
    ready = ::poll(nullptr, 0, 50);
    CHECK(ready == 0);
    CHECK(ms_since(start) >= 40);
  });
}

TEST_CASE("poll reports a closed peer (POLLHUP) and a descriptor closed meanwhile (POLLNVAL)") {
  grove::run([] {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    auto closer = grove::spawn([&] {
      grove::this_fiber::sleep_for(20ms);
      ::close(sv[0]);
    });
    pollfd fd{sv[1], POLLIN, 0};
    int ready = ::poll(&fd, 1, 5000);
    CHECK(ready == 1);
    CHECK((fd.revents & (POLLIN | POLLHUP)) != 0);
    closer.join();
    pipe_fds p;
    int victim = ::dup(p.r);
    auto closer2 = grove::spawn([&] {
      grove::this_fiber::sleep_for(20ms);
      ::close(victim);
    });
    pollfd v{victim, POLLIN, 0};
    auto start = clock_type::now();
    ready = ::poll(&v, 1, 2000);
    CHECK(ready == 1);
    CHECK((v.revents & POLLNVAL) != 0);
    CHECK(ms_since(start) < 3000);
    closer2.join();
    ::close(sv[1]);
  });
}

TEST_CASE("select waits on several descriptors, restores the sets and writes back the time left") {
  grove::run([] {
    pipe_fds a, b;
    ticker t;
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(30ms);
      ssize_t written = ::write(b.w, "y", 1);
      REQUIRE(written == 1);
    });
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(a.r, &readable);
    FD_SET(b.r, &readable);
    timeval limit{5, 0};
    int ready = ::select(std::max(a.r, b.r) + 1, &readable, nullptr, nullptr, &limit);
    CHECK(ready == 1);
    CHECK_FALSE(FD_ISSET(a.r, &readable));
    CHECK(FD_ISSET(b.r, &readable));
    CHECK(limit.tv_sec < 5);  // Linux writes back the time left
    CHECK(limit.tv_sec >= 3);
    CHECK(t.ticks >= 2);
    writer.join();
    FD_ZERO(&readable);
    FD_SET(a.r, &readable);
    timeval short_limit{0, 50 * 1000};
    ready = ::select(a.r + 1, &readable, nullptr, nullptr, &short_limit);
    CHECK(ready == 0);
    CHECK(short_limit.tv_sec == 0);
    CHECK(short_limit.tv_usec == 0);
  });
}

TEST_CASE("ppoll and pselect cooperate too") {
  grove::run([] {
    pipe_fds p;
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(20ms);
      ssize_t written = ::write(p.w, "z", 1);
      REQUIRE(written == 1);
    });
    ticker t;
    pollfd fd{p.r, POLLIN, 0};
    timespec limit{5, 0};
    sigset_t mask;
    sigemptyset(&mask);
    int ready = ::ppoll(&fd, 1, &limit, &mask);
    CHECK(ready == 1);
    CHECK(t.ticks >= 2);
    writer.join();
    char c;
    ssize_t got = ::read(p.r, &c, 1);
    REQUIRE(got == 1);
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(p.r, &readable);
    timespec short_limit{0, 40 * 1000 * 1000};
    auto start = clock_type::now();
    ready = ::pselect(p.r + 1, &readable, nullptr, nullptr, &short_limit, &mask);
    CHECK(ready == 0);
    CHECK(ms_since(start) >= 30);
  });
}

TEST_CASE("epoll_wait in a fiber: an event loop inside a fiber cooperates") {
  grove::run([] {
    pipe_fds p;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(ep >= 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = p.r;
    REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, p.r, &ev) == 0);
    ticker t;
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(30ms);
      ssize_t written = ::write(p.w, "e", 1);
      REQUIRE(written == 1);
    });
    epoll_event out[4];
    int ready = ::epoll_wait(ep, out, 4, 5000);
    CHECK(ready == 1);
    int ready_fd = out[0].data.fd;
    CHECK(ready_fd == p.r);
    CHECK(t.ticks >= 2);
    writer.join();
    char c;
    ssize_t got = ::read(p.r, &c, 1);
    REQUIRE(got == 1);
    auto start = clock_type::now();
    ready = ::epoll_wait(ep, out, 4, 40);
    CHECK(ready == 0);
    CHECK(ms_since(start) >= 30);
    ready = ::epoll_pwait(ep, out, 4, 0, nullptr);
    CHECK(ready == 0);
    ::close(ep);
  });
}

TEST_CASE("a kill or a scoped timeout ends a poll with ECANCELED or ETIMEDOUT") {
  grove::run([] {
    pipe_fds p;
    int seen = 0;
    auto victim = grove::spawn([&] {
      pollfd fd{p.r, POLLIN, 0};
      errno = 0;
      int r = ::poll(&fd, 1, -1);
      seen = r == -1 ? errno : 0;
    });
    grove::this_fiber::sleep_for(10ms);
    victim.kill();
    victim.join();
    CHECK(seen == ECANCELED);
    int timed = 0;
    try {
      grove::timeout scope(30ms);
      pollfd fd{p.r, POLLIN, 0};
      errno = 0;
      timed = ::poll(&fd, 1, -1) == -1 ? errno : 0;
      grove::this_fiber::yield();
    } catch (const grove::timeout_error&) {
    }
    CHECK(timed == ETIMEDOUT);
  });
}
