// Promises of <grove/process.hpp>: children start (or fail clearly at spawn), talk through pipes
// of any size, are waited on cooperatively, honour kill and scoped timeouts, and are always
// reaped (no zombie, checked in /proc).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <grove/grove.hpp>
#include <grove/process.hpp>  // first: the header is self-contained
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../throws.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {
double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// True while /proc has an entry for `pid` (running or zombie).
bool pid_exists(int pid) {
  struct stat st;
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

/// Waits (cooperatively, at most 5 s) until `pid` has no /proc entry: killed and reaped.
bool gone_within_5s(int pid) {
  for (int i = 0; i < 500 && pid_exists(pid); ++i) grove::this_fiber::sleep_for(10ms);
  return !pid_exists(pid);
}

std::string patterned(std::size_t size, int seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed) % 251);
  return s;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("run_process reports exit codes and the signal that ended a child") {
  grove::run([] {
    grove::exit_status status = grove::run_process({"true"});
    CHECK(status.success());
    auto three = grove::run_process({"sh", "-c", "exit 3"});
    CHECK(three.exited());
    CHECK(three.code == 3);
    CHECK(three.describe() == "exit code 3");
    auto killed = grove::run_process({"sh", "-c", "kill -TERM $$"});
    CHECK_FALSE(killed.exited());
    CHECK(killed.signal == SIGTERM);
    CHECK(killed.describe().find("signal 15") != std::string::npos);
  });
}

TEST_CASE("terminate, kill and send_signal reach the child; signalling a reaped child is a no-op") {
  grove::run([] {
    auto p = grove::process::spawn({"sleep", "10"});
    p.terminate();
    grove::exit_status status = p.wait();
    CHECK(status.signal == SIGTERM);
    p.kill();  // reaped: nothing happens
    auto q = grove::process::spawn({"sleep", "10"});
    q.kill();
    status = q.wait();
    CHECK(status.signal == SIGKILL);
    auto r = grove::process::spawn({"sleep", "10"});
    r.send_signal(SIGINT);
    status = r.wait();
    CHECK(status.signal == SIGINT);
  });
}

TEST_CASE("a missing executable is a process_error at spawn") {
  grove::run([] {
    try {
      grove::process::spawn({"grove-no-such-program", "x"});
      FAIL("spawn should have thrown");
    } catch (const grove::process_error& e) {
      CHECK(e.code() == std::errc::no_such_file_or_directory);
      CHECK(std::string(e.what()).find("'grove-no-such-program'") != std::string::npos);
    }
    CHECK_THROWS_AS(grove::process::spawn({"/nonexistent/bin/prog"}), grove::process_error);
    CHECK_THROWS_AS(grove::process::spawn({"true"}, {.working_directory = "/nonexistent/dir"}),
                    grove::process_error);
    CHECK_THROWS_AS(
        grove::process::spawn({"cat"}, {.stdin_ = grove::stdio::file("/nonexistent/in")}),
        grove::process_error);
    CHECK_THROWS_AS(grove::process::spawn({}), grove::process_error);
  });
}

TEST_CASE("spawn outside grove::run is a clear error") {
  CHECK_THROWS_AS(grove::process::spawn({"true"}), grove::error);
}

TEST_CASE("check_output returns stdout, or throws with the status and the tail of stderr") {
  grove::run([] {
    std::string out = grove::check_output({"echo", "hello", "grove"});
    CHECK(out == "hello grove\n");
    try {
      grove::check_output({"sh", "-c", "echo partial; echo 'it went wrong' >&2; exit 4"});
      FAIL("check_output should have thrown");
    } catch (const grove::process_error& e) {
      CHECK(e.status().code == 4);
      CHECK(e.stderr_tail() == "it went wrong\n");
      CHECK(std::string(e.what()).find("exit code 4") != std::string::npos);
    }
    try {
      grove::check_output({"sh", "-c", "kill -KILL $$"});
      FAIL("check_output should have thrown");
    } catch (const grove::process_error& e) {
      CHECK(e.status().signal == SIGKILL);
    }
  });
}

TEST_CASE("communicate round-trips megabytes through stdin, stdout and stderr without deadlock") {
  grove::run([] {
    std::string input = patterned(8 << 20, 7);
    // tee writes everything to stdout and to stderr while it is still reading stdin: all three
    // pipes are full at once unless the parent serves them concurrently.
    auto p =
        grove::process::spawn({"sh", "-c", "tee /dev/stderr"}, {.stdin_ = grove::stdio::pipe(),
                                                                .stdout_ = grove::stdio::pipe(),
                                                                .stderr_ = grove::stdio::pipe()});
    auto result = p.communicate(input);
    CHECK(result.status.success());
    CHECK(result.out.size() == input.size());
    CHECK(result.out == input);
    CHECK(result.err == input);
  });
}

TEST_CASE("a child that stops reading its stdin does not break communicate") {
  grove::run([] {
    auto p = grove::process::spawn(
        {"head", "-c", "10"}, {.stdin_ = grove::stdio::pipe(), .stdout_ = grove::stdio::pipe()});
    auto result = p.communicate(patterned(4 << 20, 1));
    CHECK(result.out.size() == 10);
    CHECK(result.status.success());
  });
}

TEST_CASE("pipes talk to a child line by line") {
  grove::run([] {
    auto p = grove::process::spawn(
        {"cat"}, {.stdin_ = grove::stdio::pipe(), .stdout_ = grove::stdio::pipe()});
    for (int i = 0; i < 3; ++i) {
      std::string line = "line " + std::to_string(i) + "\n";
      p.stdin_pipe().write_all(line);
      std::string echoed = p.stdout_pipe().read_until("\n");
      CHECK(echoed == line);
    }
    p.stdin_pipe().close();
    std::string rest = p.stdout_pipe().read_until("\n");
    CHECK(rest == "");
    grove::exit_status status = p.wait();
    CHECK(status.success());
  });
}

TEST_CASE("stdio goes to files, /dev/null, a descriptor or into stdout") {
  grove::run([] {
    std::string dir = "/tmp/grove_process_test_" + std::to_string(::getpid());
    ::mkdir(dir.c_str(), 0700);
    std::string out_path = dir + "/out.txt";
    grove::exit_status status = grove::run_process(
        {"sh", "-c", "echo one; echo two >&2"},
        {.stdout_ = grove::stdio::file(out_path), .stderr_ = grove::stdio::merge_into_stdout()});
    CHECK(status.success());
    CHECK(slurp(out_path) == "one\ntwo\n");
    status = grove::run_process({"echo", "three"},
                                {.stdout_ = grove::stdio::file(out_path, /*append=*/true)});
    CHECK(status.success());
    CHECK(slurp(out_path) == "one\ntwo\nthree\n");
    std::string out = grove::check_output({"cat"}, {.stdin_ = grove::stdio::file(out_path)});
    CHECK(out == "one\ntwo\nthree\n");
    out = grove::check_output({"cat"}, {.stdin_ = grove::stdio::null()});
    CHECK(out == "");
    out = grove::check_output({"sh", "-c", "echo x >&2"},
                              {.stderr_ = grove::stdio::merge_into_stdout()});
    CHECK(out == "x\n");
    out = grove::check_output({"sh", "-c", "echo gone >&2; echo kept"},
                              {.stderr_ = grove::stdio::null()});
    CHECK(out == "kept\n");
    std::remove(out_path.c_str());
    ::rmdir(dir.c_str());
  });
}

TEST_CASE("environment, working directory and process group are the child's own") {
  grove::run([] {
    std::string out = grove::check_output({"sh", "-c", "echo $GROVE_X"},
                                          {.environment = std::vector<std::string>{"GROVE_X=42"}});
    CHECK(out == "42\n");
    out = grove::check_output({"pwd"}, {.working_directory = "/tmp"});
    CHECK(out == "/tmp\n");
    auto own_group = grove::process::spawn({"sleep", "10"}, {.new_process_group = true});
    CHECK(::getpgid(own_group.pid()) == own_group.pid());
    own_group.kill();
    own_group.wait();
    auto same_group = grove::process::spawn({"sleep", "10"});
    CHECK(::getpgid(same_group.pid()) == ::getpgrp());
    same_group.kill();
    same_group.wait();
  });
}

TEST_CASE("the child gets no descriptor of the parent but 0, 1 and 2") {
  grove::run([] {
    std::string fds = grove::check_output({"ls", "/proc/self/fd"});
    // ls itself opens /proc/self/fd (one more descriptor, 3).
    CHECK(fds == "0\n1\n2\n3\n");
  });
}

TEST_CASE("waits are cooperative: ten children sleeping 300 ms take about 300 ms") {
  grove::run([] {
    int ticks = 0;
    auto ticker = grove::spawn([&] {
      for (;;) {
        grove::this_fiber::sleep_for(10ms);
        ++ticks;
      }
    });
    auto start = clock_type::now();
    std::vector<grove::fiber<grove::exit_status>> fibers;
    for (int i = 0; i < 10; ++i) {
      fibers.push_back(grove::spawn([] { return grove::run_process({"sleep", "0.3"}); }));
    }
    for (auto& f : fibers) {
      grove::exit_status status = f.get();
      CHECK(status.success());
    }
    CHECK(ms_since(start) < 1500);  // one after another: 3 s
    CHECK(ticks >= 10);
    ticker.kill();
  });
}

TEST_CASE("wait_for gives up while the child runs on; poll never waits") {
  grove::run([] {
    auto p = grove::process::spawn({"sleep", "10"});
    CHECK_FALSE(p.poll());
    std::optional<grove::exit_status> early = p.wait_for(50ms);
    CHECK_FALSE(early);
    CHECK(pid_exists(p.pid()));
    p.kill();
    auto status = p.wait_for(5s);
    REQUIRE(status);
    CHECK(status->signal == SIGKILL);
    CHECK(p.poll() == status);
  });
}

TEST_CASE("a scoped timeout kills and reaps the child of run_process") {
  grove::run([] {
    int pid = 0;
    auto start = clock_type::now();
    bool timed_out = grove_test::throws<grove::timeout_error>([&] {
      grove::with_timeout(100ms, [&] {
        auto p = grove::process::spawn({"sleep", "10"});
        pid = p.pid();
        return p.wait();
      });
    });
    CHECK(timed_out);
    CHECK(ms_since(start) < 2000);
    bool gone = gone_within_5s(pid);
    CHECK(gone);
    timed_out = grove_test::throws<grove::timeout_error>([] {
      grove::with_timeout(100ms, [] { grove::run_process({"sleep", "10"}); });
    });
    CHECK(timed_out);
    timed_out = grove_test::throws<grove::timeout_error>([] {
      grove::with_timeout(100ms, [] { grove::check_output({"sleep", "10"}); });
    });
    CHECK(timed_out);
  });
}

TEST_CASE("killing the waiting fiber leaves no zombie") {
  grove::run([] {
    int pid = 0;
    auto waiter = grove::spawn([&] {
      auto p = grove::process::spawn({"sleep", "10"});
      pid = p.pid();
      p.wait();
    });
    grove::this_fiber::sleep_for(50ms);
    REQUIRE(pid != 0);
    CHECK(pid_exists(pid));
    waiter.kill();
    waiter.join();
    bool gone = gone_within_5s(pid);
    CHECK(gone);  // neither running nor a zombie
  });
}

TEST_CASE("a killed communicate leaves no zombie and no stuck helper fiber") {
  grove::run([] {
    int pid = 0;
    auto waiter = grove::spawn([&] {
      auto p = grove::process::spawn({"sh", "-c", "cat; exec sleep 10"},
                                     {.stdin_ = grove::stdio::pipe(),
                                      .stdout_ = grove::stdio::pipe(),
                                      .stderr_ = grove::stdio::pipe()});
      pid = p.pid();
      p.communicate(patterned(1 << 20, 3));
    });
    grove::this_fiber::sleep_for(100ms);
    waiter.kill();
    waiter.join();
    bool gone = gone_within_5s(pid);
    CHECK(gone);
  });
}

TEST_CASE("200 children run concurrently") {
  grove::run([] {
    auto start = clock_type::now();
    std::vector<grove::fiber<std::string>> fibers;
    for (int i = 0; i < 200; ++i) {
      fibers.push_back(grove::spawn([i] {
        return grove::check_output({"sh", "-c", "sleep 0.5; echo " + std::to_string(i)});
      }));
    }
    int correct = 0;
    for (int i = 0; i < 200; ++i) correct += fibers[i].get() == std::to_string(i) + "\n";
    CHECK(correct == 200);
    CHECK(ms_since(start) < 30000);  // one after another: 100 s
  });
}

TEST_CASE("wait_child_exit never throws: a kill becomes operation_canceled and stays pending") {
  grove::run([] {
    auto p = grove::process::spawn({"sleep", "10"});
    int pidfd = grove::detail::open_pidfd(p.pid());
    REQUIRE(pidfd >= 0);
    std::error_code ec = grove::detail::wait_child_exit(pidfd, grove::detail::deadline_after(30ms));
    CHECK(ec == std::errc::timed_out);
    std::error_code seen;
    bool raised_later = false;
    auto waiter = grove::spawn([&] {
      seen = grove::detail::wait_child_exit(pidfd, grove::detail::no_deadline);
      try {
        grove::this_fiber::yield();
      } catch (const grove::fiber_killed&) {
        raised_later = true;
        throw;
      }
    });
    grove::this_fiber::sleep_for(20ms);
    waiter.kill();
    waiter.join();
    CHECK(seen == std::errc::operation_canceled);
    CHECK(raised_later);
    p.kill();
    ec = grove::detail::wait_child_exit(pidfd, grove::detail::deadline_after(5s));
    CHECK(ec == std::error_code());
    grove::detail::close_pidfd(pidfd);
    grove::exit_status status = p.wait();
    CHECK(status.signal == SIGKILL);
  });
}
