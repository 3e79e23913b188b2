// Child processes through libgrove_shims: waitpid, wait, wait3, wait4, waitid and system wait
// cooperatively in fibers (children running `sleep 0.3` overlap), leave no zombies, report
// stops, end with ECANCELED / ETIMEDOUT on a kill or a scoped timeout; a child forked in a fiber
// sees plain libc. Also run with GROVE_SHIMS=0 (the test named for it): serial then.
#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

extern char** environ;

namespace {

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

bool shims_disabled() {
  const char* value = std::getenv("GROVE_SHIMS");
  return value && std::strcmp(value, "0") == 0;
}

/// Starts `sleep seconds` as a child; returns its pid.
pid_t start_sleep(const char* seconds) {
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>("sleep"), const_cast<char*>(seconds), nullptr};
  REQUIRE(posix_spawnp(&pid, "sleep", nullptr, nullptr, argv, environ) == 0);
  return pid;
}

/// True if this process has no child left, not even a zombie.
bool no_children_left() {
  errno = 0;
  pid_t r = waitpid(-1, nullptr, WNOHANG);
  return r == -1 && errno == ECHILD;
}

/// Runs `count` fibers doing `body(i)` at once; returns the wall time in ms.
double concurrent_ms(int count, const std::function<void(int)>& body) {
  auto start = clock_type::now();
  grove::run([&] {
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < count; ++i) fibers.push_back(grove::spawn(body, i));
    for (auto& f : fibers) f.join();
  });
  return ms_since(start);
}

}  // namespace

TEST_CASE("waitpid, wait4 and waitid on children sleeping 0.3 s overlap in fibers") {
  if (shims_disabled()) return;
  std::vector<pid_t> children;
  for (int i = 0; i < 6; ++i) children.push_back(start_sleep("0.3"));
  double ms = concurrent_ms(6, [&](int i) {
    pid_t pid = children[i];
    int status = -1;
    if (i < 2) {
      pid_t reaped = waitpid(pid, &status, 0);
      CHECK(reaped == pid);
    } else if (i < 4) {
      rusage usage{};
      pid_t reaped = wait4(pid, &status, 0, &usage);
      CHECK(reaped == pid);
    } else {
      siginfo_t info{};
      int result = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
      CHECK(result == 0);
      CHECK(info.si_pid == pid);
      CHECK(info.si_code == CLD_EXITED);
      status = W_EXITCODE(info.si_status, 0);
    }
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  });
  MESSAGE("6 fibers each waiting for its own `sleep 0.3`: " << ms << " ms");
  CHECK(ms < 600);
  CHECK(no_children_left());
}

TEST_CASE("wait and wait3 for any child overlap too, each reaping a different child") {
  if (shims_disabled()) return;
  std::set<pid_t> children;
  for (int i = 0; i < 4; ++i) children.insert(start_sleep("0.3"));
  std::set<pid_t> reaped;
  double ms = concurrent_ms(4, [&](int i) {
    int status = -1;
    pid_t pid = i % 2 ? wait(&status) : wait3(&status, 0, nullptr);
    CHECK(children.count(pid) == 1);
    CHECK(WIFEXITED(status));
    reaped.insert(pid);
  });
  CHECK(reaped == children);
  CHECK(ms < 600);
  CHECK(no_children_left());
}

TEST_CASE("system() in ten fibers runs the shells concurrently, with their exit statuses") {
  if (shims_disabled()) return;
  double ms = concurrent_ms(10, [](int i) {
    std::string command = "sleep 0.3; exit " + std::to_string(i);
    int status = system(command.c_str());
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == i);
  });
  MESSAGE("10 fibers x system(\"sleep 0.3; exit i\"): " << ms << " ms");
  CHECK(ms < 800);
  CHECK(no_children_left());
  grove::run([] {
    int shell = system(nullptr);
    CHECK(shell != 0);  // a shell is available
    int status = system("exit 3");
    CHECK(WEXITSTATUS(status) == 3);
    status = system("kill -TERM $$");
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGTERM);
  });
}

TEST_CASE("system() follows POSIX: SIGINT and SIGQUIT ignored and SIGCHLD blocked while it waits") {
  if (shims_disabled()) return;
  struct sigaction interrupt_before {};
  sigaction(SIGINT, nullptr, &interrupt_before);  // doctest's handler, or the default
  grove::run([&] {
    bool checked = false;
    auto observer = grove::spawn([&] {
      grove::this_fiber::sleep_for(100ms);  // system() below is waiting by now
      struct sigaction interrupt {
      }, quit{};
      sigaction(SIGINT, nullptr, &interrupt);
      sigaction(SIGQUIT, nullptr, &quit);
      sigset_t mask;
      pthread_sigmask(SIG_SETMASK, nullptr, &mask);
      CHECK((interrupt.sa_handler == SIG_IGN));
      CHECK((quit.sa_handler == SIG_IGN));
      CHECK(sigismember(&mask, SIGCHLD) == 1);
      checked = true;
    });
    // the shell's own view: SIGINT at its default disposition, SIGCHLD not blocked
    // (read with shell builtins: a forking shell blocks every signal while it forks)
    int status = system(
        "sleep 0.3; while read -r key value; do case $key in SigBlk:) blocked=$value;; "
        "SigIgn:) ignored=$value;; esac; done < /proc/$$/status; "
        "[ \"$blocked\" = 0000000000000000 ] && case $ignored in *[0189]) exit 0;; esac; exit 1");
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    observer.join();
    CHECK(checked);
    struct sigaction interrupt {};
    sigaction(SIGINT, nullptr, &interrupt);
    CHECK((interrupt.sa_handler == interrupt_before.sa_handler));  // restored
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    CHECK(sigismember(&mask, SIGCHLD) == 0);
  });
}

TEST_CASE("a stopped child is reported to waitpid(WUNTRACED) in a fiber") {
  if (shims_disabled()) return;
  pid_t pid = start_sleep("10");
  grove::run([&] {
    int status = 0;
    pid_t got = 0;
    auto waiter = grove::spawn([&] { got = waitpid(pid, &status, WUNTRACED); });
    grove::this_fiber::sleep_for(50ms);
    CHECK_FALSE(waiter.ready());
    kill(pid, SIGSTOP);
    bool joined = waiter.join_for(500ms);
    CHECK(joined);
    CHECK(got == pid);
    CHECK(WIFSTOPPED(status));
    kill(pid, SIGKILL);
    got = waitpid(pid, &status, 0);
    CHECK(got == pid);
    CHECK(WIFSIGNALED(status));
  });
  CHECK(no_children_left());
}

TEST_CASE("a kill or a scoped timeout ends waitpid and system with ECANCELED or ETIMEDOUT") {
  if (shims_disabled()) return;
  pid_t pid = start_sleep("10");
  grove::run([&] {
    pid_t got = 0;
    int error = 0;
    auto victim = grove::spawn([&] {
      got = waitpid(pid, nullptr, 0);
      error = errno;
    });
    grove::this_fiber::sleep_for(50ms);
    auto start = clock_type::now();
    victim.kill();
    victim.join();
    CHECK(ms_since(start) < 5000);  // the kill, not the 10 s sleep (generous: loaded CI)
    CHECK(got == -1);
    CHECK(error == ECANCELED);

    start = clock_type::now();
    int status = 0;
    try {
      grove::timeout t(50ms);
      status = system("exec sleep 10");  // exec: the SIGKILL reaches the sleep, no orphan left
      error = errno;
      grove::this_fiber::yield();
    } catch (const grove::timeout_error&) {
    }
    CHECK(ms_since(start) < 5000);  // the timeout, not the 10 s sleep (generous: loaded CI)
    CHECK(status == -1);
    CHECK(error == ETIMEDOUT);
    kill(pid, SIGKILL);
    got = waitpid(pid, nullptr, 0);
    CHECK(got == pid);
  });
  CHECK(no_children_left());  // system() reaped the shell it had to end
}

TEST_CASE("outside fibers the waits are libc's") {
  auto start = clock_type::now();
  pid_t pid = start_sleep("0.1");
  int status = -1;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(ms_since(start) >= 90);
  CHECK(WIFEXITED(status));
  errno = 0;
  pid_t none = waitpid(-1, &status, 0);
  int error = errno;
  CHECK(none == -1);
  CHECK(error == ECHILD);
  grove::run([] {
    errno = 0;  // no child at all: ECHILD at once, in a fiber too
    pid_t r = wait(nullptr);
    int e = errno;
    CHECK(r == -1);
    CHECK(e == ECHILD);
  });
}

TEST_CASE("a child forked in a fiber sees plain libc, not the parent's hub") {
  if (shims_disabled()) return;
  int report[2];
  REQUIRE(pipe(report) == 0);
  pid_t parent = getpid();
  grove::run([&] {
    // Ready but not yet run when fork() happens: if the child's usleep yielded to its copy of
    // the hub, this fiber would run in the child and say so.
    auto bystander = grove::spawn([&] {
      const char* who = getpid() == parent ? "P" : "C";
      (void)!write(report[1], who, 1);
    });
    pid_t child = fork();
    if (child == 0) {
      auto s = clock_type::now();
      int ok = usleep(100'000) == 0 && ms_since(s) >= 99;
      _exit(ok ? 0 : 1);
    }
    REQUIRE(child > 0);
    int status = -1;
    pid_t reaped = waitpid(child, &status, 0);
    CHECK(reaped == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    bystander.join();
  });
  close(report[1]);
  char seen[8] = {};
  CHECK(read(report[0], seen, sizeof(seen)) == 1);
  CHECK(std::string(seen) == "P");
  close(report[0]);
}

TEST_CASE("GROVE_SHIMS=0 makes waits in fibers serial") {
  if (!shims_disabled()) return;
  double ms = concurrent_ms(3, [](int) {
    int status = system("sleep 0.3");
    CHECK(status == 0);
  });
  MESSAGE("3 fibers x system(\"sleep 0.3\"), GROVE_SHIMS=0: " << ms << " ms");
  CHECK(ms >= 890);
}
