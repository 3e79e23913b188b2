// Promises of <grove/detail/fd_table.hpp>: the descriptor table's facts follow the kernel's open
// file descriptions (dup shares, close forgets), and the no-throw waits (one descriptor, many
// descriptors) end with a status, never an exception: ready, deadline, closed, killed, timed out.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <grove/detail/deadline.hpp>
#include <grove/detail/fd_table.hpp>  // first: the header is self-contained
#include <grove/grove.hpp>

using namespace std::chrono_literals;
namespace detail = grove::detail;

namespace {

// The test calls the kernel directly: it must not depend on whether the shims are loaded.
int raw_close(int fd) { return static_cast<int>(syscall(SYS_close, fd)); }

struct socket_pair {
  int a, b;
  socket_pair() {
    int sv[2];
    REQUIRE(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    a = sv[0];
    b = sv[1];
    detail::fd_opened(a);
    detail::fd_opened(b);
  }
  ~socket_pair() {
    detail::fd_closing(a);
    raw_close(a);
    detail::fd_closing(b);
    raw_close(b);
  }
};

struct recv_args {
  char* buf;
  std::size_t size;
};

detail::io_status try_recv(void* context, int fd, std::error_code& ec,
                           std::size_t& bytes) noexcept {
  auto* a = static_cast<recv_args*>(context);
  ssize_t n = syscall(SYS_recvfrom, fd, a->buf, a->size, 0, nullptr, nullptr);
  if (n >= 0) {
    bytes = static_cast<std::size_t>(n);
    return detail::io_status::done;
  }
  if (errno == EAGAIN) return detail::io_status::would_block;
  ec = {errno, std::system_category()};
  return detail::io_status::done;
}

}  // namespace

TEST_CASE("facts: dup'ed descriptors share O_NONBLOCK and timeouts; close forgets them") {
  socket_pair p;
  CHECK_FALSE(detail::fd_lookup(p.a).user_nonblock);
  int copy = static_cast<int>(syscall(SYS_dup, p.a));
  REQUIRE(copy >= 0);
  detail::fd_adopt(p.a, false, false);
  detail::fd_duplicate(p.a, copy);
  detail::fd_set_user_nonblock(copy, true);
  CHECK(detail::fd_lookup(p.a).user_nonblock);
  detail::fd_set_timeout(p.a, detail::io_direction::read, 250ms);
  CHECK(detail::fd_lookup(copy).receive_timeout == 250ms);
  CHECK(detail::fd_deadline(copy, detail::io_direction::read) != detail::no_deadline);
  CHECK(detail::fd_deadline(copy, detail::io_direction::write) == detail::no_deadline);
  auto generation = detail::fd_generation(copy);
  detail::fd_closing(copy);
  raw_close(copy);
  CHECK(detail::fd_generation(copy) != generation);
  CHECK_FALSE(detail::fd_lookup(copy).known);
  CHECK(detail::fd_lookup(p.a).user_nonblock);  // the other descriptor keeps the description
}

TEST_CASE("fd_cooperative: only in a fiber, only sockets and pipes the user left blocking") {
  socket_pair p;
  CHECK(detail::fd_cooperative(p.a) == nullptr);  // no fiber
  grove::run([&] {
    detail::fd_state* s = detail::fd_cooperative(p.a);
    CHECK(s != nullptr);
    CHECK(detail::fd_cooperative(p.a) == s);  // registered once
    CHECK(detail::fd_lookup(p.a).internal_nonblock);
    CHECK(detail::fd_lookup(p.a).byte_stream);
    CHECK((syscall(SYS_fcntl, p.a, F_GETFL) & O_NONBLOCK) != 0);  // the kernel's flag
    detail::fd_set_user_nonblock(p.b, true);
    CHECK(detail::fd_cooperative(p.b) == nullptr);
    int file = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY));
    REQUIRE(file >= 0);
    detail::fd_opened(file);
    CHECK(detail::fd_cooperative(file) == nullptr);  // a regular file: libc's call
    CHECK(detail::fd_lookup(file).not_pollable);
    detail::fd_closing(file);
    raw_close(file);
    CHECK(detail::fd_cooperative(-1) == nullptr);
  });
}

TEST_CASE("fd_perform waits without throwing: ready, deadline, closed, killed, timed out") {
  grove::run([] {
    socket_pair p;
    detail::fd_state* s = detail::fd_cooperative(p.b);
    REQUIRE(s != nullptr);
    char buf[8];
    recv_args args{buf, sizeof buf};
    detail::io_result r;
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      syscall(SYS_sendto, p.a, "abc", 3, 0, nullptr, 0);
    });
    detail::fd_wait_status status =
        detail::fd_perform(s, detail::io_direction::read, &try_recv, &args, detail::no_deadline, r);
    CHECK(status == detail::fd_wait_status::ready);
    CHECK(r.bytes == 3);
    writer.join();
    errno = EILSEQ;
    status = detail::fd_perform(s, detail::io_direction::read, &try_recv, &args,
                                detail::deadline_after(20ms), r);
    CHECK(status == detail::fd_wait_status::deadline);
    CHECK(errno == EILSEQ);  // errno survives the wait

    auto victim = grove::spawn([&] {
      detail::io_result vr;
      return detail::fd_perform(s, detail::io_direction::read, &try_recv, &args,
                                detail::no_deadline, vr);
    });
    grove::this_fiber::sleep_for(5ms);
    victim.kill();
    // The kill stays pending after the no-throw wait: the fiber then ends killed at its return.
    victim.join();

    detail::fd_wait_status timed = detail::fd_wait_status::ready;
    try {
      grove::timeout scope(20ms);
      timed = detail::fd_perform(s, detail::io_direction::read, &try_recv, &args,
                                 detail::no_deadline, r);
      grove::this_fiber::yield();
    } catch (const grove::timeout_error&) {
    }
    CHECK(timed == detail::fd_wait_status::timed_out);

    auto closer = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      detail::fd_closing(p.b);  // wakes the waiter; the descriptor itself closes with p
    });
    status =
        detail::fd_perform(s, detail::io_direction::read, &try_recv, &args, detail::no_deadline, r);
    CHECK(status == detail::fd_wait_status::closed);
    closer.join();
  });
}

TEST_CASE("fd_wait_any: one suspension on many descriptors, woken by any of them") {
  grove::run([] {
    socket_pair p1, p2, p3;
    detail::fd_interest interests[] = {
        {detail::fd_watch(p1.b), true, false},
        {detail::fd_watch(p2.b), true, false},
        {detail::fd_watch(p3.b), true, false},
    };
    for (auto& i : interests) REQUIRE(i.state != nullptr);
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(10ms);
      syscall(SYS_sendto, p2.a, "x", 1, 0, nullptr, 0);
    });
    detail::fd_wait_status status = detail::fd_wait_any(interests, 3, detail::no_deadline);
    CHECK(status == detail::fd_wait_status::ready);
    pollfd fd{p2.b, POLLIN, 0};
    CHECK(syscall(SYS_poll, &fd, 1, 0) == 1);
    writer.join();
    // Only events from now on count: data already there does not end a later wait early.
    status = detail::fd_wait_any(interests, 3, detail::deadline_after(20ms));
    CHECK(status == detail::fd_wait_status::deadline);
    status = detail::fd_wait_any(interests, 0, detail::deadline_after(5ms));
    CHECK(status == detail::fd_wait_status::deadline);
  });
}
