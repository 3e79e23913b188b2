// Promises of <grove/detail/fd_wait.hpp> and <grove/detail/completion.hpp>: the one wait on
// outside work, on any descriptor (a pipe here, as the shims will use it) and on any Asio
// operation; kill, scoped timeouts, deadlines and release all end it cleanly.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <grove/detail/completion.hpp>
#include <grove/detail/fd_wait.hpp>  // first: the header is self-contained
#include <grove/grove.hpp>
#include <string>

#include "../throws.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace detail = grove::detail;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

struct pipe_fds {
  int read_end, write_end;
  pipe_fds() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    read_end = fds[0];
    write_end = fds[1];
  }
  ~pipe_fds() {
    ::close(read_end);
    ::close(write_end);
  }
};

struct read_args {
  char* buf;
  std::size_t size;
};

detail::io_status try_read(void* context, int fd, std::error_code& ec,
                           std::size_t& bytes) noexcept {
  auto* a = static_cast<read_args*>(context);
  ssize_t n = ::read(fd, a->buf, a->size);
  if (n >= 0) {
    bytes = static_cast<std::size_t>(n);
    return detail::io_status::done;
  }
  if (errno == EAGAIN) return detail::io_status::would_block;
  ec = {errno, std::system_category()};
  return detail::io_status::done;
}
}  // namespace

TEST_CASE("perform waits for a pipe to become readable while other fibers run") {
  grove::run([] {
    pipe_fds p;
    detail::fd_registration reg;
    REQUIRE_FALSE(reg.open(p.read_end));
    CHECK(reg.registered());
    auto writer = grove::spawn([&] {
      grove::this_fiber::sleep_for(20ms);
      REQUIRE(::write(p.write_end, "data", 4) == 4);
    });
    char buf[16];
    read_args args{buf, sizeof buf};
    auto start = clock_type::now();
    auto r = reg.perform(detail::io_direction::read, &try_read, &args, detail::no_deadline);
    CHECK(ms_since(start) >= 15);
    CHECK_FALSE(r.ec);
    CHECK(std::string(buf, r.bytes) == "data");
    writer.get();
  });
}

TEST_CASE("perform: deadline, kill, scoped timeout and release each end the wait") {
  grove::run([] {
    pipe_fds p;
    detail::fd_registration reg;
    REQUIRE_FALSE(reg.open(p.read_end));
    char buf[16];
    read_args args{buf, sizeof buf};

    auto r = reg.perform(detail::io_direction::read, &try_read, &args, detail::clock::now() + 10ms);
    CHECK(r.ec == std::errc::timed_out);

    bool timed_out = grove_test::throws<grove::timeout_error>([&] {
      grove::with_timeout(10ms, [&] {
        return reg.perform(detail::io_direction::read, &try_read, &args, detail::no_deadline);
      });
    });
    CHECK(timed_out);

    auto killed = grove::spawn(
        [&] { reg.perform(detail::io_direction::read, &try_read, &args, detail::no_deadline); });
    grove::this_fiber::sleep_for(5ms);
    killed.kill();
    killed.join();
    bool threw_killed = grove_test::throws<grove::killed_error>([&] { killed.get(); });
    CHECK(threw_killed);

    auto released = grove::spawn([&] {
      return reg.perform(detail::io_direction::read, &try_read, &args, detail::no_deadline).ec;
    });
    grove::this_fiber::sleep_for(5ms);
    reg.release();
    std::error_code released_ec = released.get();
    CHECK(released_ec == std::errc::operation_canceled);
    CHECK_FALSE(reg.registered());

    // After all that, the registration of a new descriptor still works.
    REQUIRE_FALSE(reg.open(p.read_end));
    REQUIRE(::write(p.write_end, "ok", 2) == 2);
    r = reg.perform(detail::io_direction::read, &try_read, &args, detail::no_deadline);
    CHECK(std::string(buf, r.bytes) == "ok");
  });
}

TEST_CASE("await_asio waits for an Asio timer; deadline and kill cancel it first") {
  grove::run([] {
    auto& io = grove::hub::current().io_context();
    boost::asio::steady_timer timer(io);
    auto wait = [&](detail::time_point deadline) {
      auto [ec] = detail::await_asio<boost::system::error_code>(
          [&](auto handler) { timer.async_wait(std::move(handler)); }, [&] { timer.cancel(); },
          deadline);
      return ec;
    };
    timer.expires_after(10ms);
    auto start = clock_type::now();
    boost::system::error_code ec = wait(detail::no_deadline);
    CHECK_FALSE(ec);
    CHECK(ms_since(start) >= 9);

    timer.expires_after(10s);
    start = clock_type::now();
    ec = wait(detail::clock::now() + 10ms);
    CHECK(ec == boost::asio::error::operation_aborted);
    CHECK(ms_since(start) < 1000);

    timer.expires_after(10s);
    auto f = grove::spawn([&] { return wait(detail::no_deadline); });
    grove::this_fiber::sleep_for(5ms);
    f.kill();
    f.join();  // returns only after the handler ran: the timer is idle again
    bool killed = grove_test::throws<grove::killed_error>([&] { f.get(); });
    CHECK(killed);
    timer.expires_after(1ms);
    ec = wait(detail::no_deadline);
    CHECK_FALSE(ec);
  });
}

TEST_CASE("an operation that completes while its waiter is being killed keeps its result") {
  grove::run([] {
    detail::fiber_base* waiter = nullptr;
    bool result_seen = false;
    auto f = grove::spawn([&] {
      detail::completion c;
      waiter = c.waiter.fiber;
      grove::call_soon([&] { c.complete(); });  // completes in the same hub turn as the kill
      bool completed = detail::await_completion(c, detail::no_deadline, [] {});
      result_seen = completed;
      grove::this_fiber::yield();  // the pending kill lands here
    });
    grove::this_fiber::yield();
    f.kill();
    f.join();
    CHECK(waiter != nullptr);
    CHECK(result_seen);
  });
}
