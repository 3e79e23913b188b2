// What the client tests share; see client_fixture.hpp.
#include "client_fixture.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace grove_test {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(std::string(name) +
                             " is not set: run this test through `meson test` or ./test.sh, "
                             "or by hand with `scripts/test_services.sh redis postgres -- <test>`");
  }
  return value;
}

bool shims_disabled() {
  const char* value = std::getenv("GROVE_SHIMS");
  return value != nullptr && std::strcmp(value, "0") == 0;
}

double run_without_shims(const char* test_case) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "GROVE_SHIMS=", 12) != 0) env_strings.emplace_back(*e);
  }
  env_strings.emplace_back("GROVE_SHIMS=0");
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);

  std::string filter = std::string("--test-case=") + test_case;
  std::string no_skip = "--no-skip=true";
  std::string self = "/proc/self/exe";
  char* argv[] = {self.data(), filter.data(), no_skip.data(), nullptr};

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  }
  std::string output;
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(out[0], chunk, sizeof chunk);
    if (n > 0) {
      output.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto at = output.find("serial_seconds=");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || at == std::string::npos) {
    throw std::runtime_error("the GROVE_SHIMS=0 run of '" + std::string(test_case) +
                             "' failed; its output:\n" + output);
  }
  return std::strtod(output.c_str() + at + 15, nullptr);
}

void report_serial_seconds(double seconds) {
  std::printf("serial_seconds=%.3f\n", seconds);
  std::fflush(stdout);
}

}  // namespace grove_test
