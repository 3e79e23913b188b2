// Promises of <grove/pipe_stream.hpp>: reads and writes wait cooperatively, read_until keeps
// what it read ahead, a gone reader is an error (never SIGPIPE), close wakes a waiting reader.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <grove/grove.hpp>
#include <grove/pipe_stream.hpp>  // first: the header is self-contained
#include <string>

#include "../throws.hpp"

using namespace std::chrono_literals;

namespace {
struct pipe_pair {
  grove::pipe_stream read_end, write_end;
};
pipe_pair make_pipe() {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  return {grove::pipe_stream(fds[0]), grove::pipe_stream(fds[1])};
}
}  // namespace

TEST_CASE("a reader waits for a writer fiber without blocking the hub") {
  grove::run([] {
    auto [in, out] = make_pipe();
    auto writer = grove::spawn([&out] {
      grove::this_fiber::sleep_for(30ms);
      out.write_all("hello\nworld\npartial");
      out.close();
    });
    std::string line = in.read_until("\n");
    CHECK(line == "hello\n");
    line = in.read_until("\n");
    CHECK(line == "world\n");
    line = in.read_until("\n");
    CHECK(line == "partial");  // the stream ended without a delimiter
    line = in.read_until("\n");
    CHECK(line == "");
    writer.get();
  });
}

TEST_CASE("megabytes go through a pipe whose buffer holds 64 KiB") {
  grove::run([] {
    auto [in, out] = make_pipe();
    std::string data(4 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
    auto writer = grove::spawn([&] {
      out.write_all(data);
      out.close();
    });
    std::string received = in.read_all();
    CHECK(received == data);
    writer.get();
  });
}

TEST_CASE("writing to a pipe whose reader has gone throws broken_pipe instead of SIGPIPE") {
  grove::run([] {
    auto [in, out] = make_pipe();
    in.close();
    try {
      out.write_all("anyone?");
      FAIL("the write should have failed");
    } catch (const grove::pipe_error& e) {
      CHECK(e.code() == std::errc::broken_pipe);
    }
  });
}

TEST_CASE("close from another fiber wakes a waiting reader with an error") {
  grove::run([] {
    auto [in, out] = make_pipe();
    auto reader = grove::spawn([&in] {
      char buf[16];
      return in.read_some(boost::asio::buffer(buf));
    });
    grove::this_fiber::sleep_for(20ms);
    in.close();
    bool failed = grove_test::throws<grove::pipe_error>([&] { reader.get(); });
    CHECK(failed);
  });
}

TEST_CASE("a scoped timeout ends a read that waits for nothing") {
  grove::run([] {
    auto [in, out] = make_pipe();
    char buf[16];
    bool timed_out = grove_test::throws<grove::timeout_error>(
        [&] { grove::with_timeout(50ms, [&] { return in.read_some(boost::asio::buffer(buf)); }); });
    CHECK(timed_out);
  });
}
