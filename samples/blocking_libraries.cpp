// The talk's pitfall #2 and its fix. Fibers only help if every wait yields to the hub; a fiber
// that calls an ordinary blocking library — libcurl, or plain ::sleep / ::recv — stops the whole
// thread, and the "concurrent" tasks run one after another. Linking libgrove_shims (this program
// does, see samples/meson.build) fixes it without touching that code: inside a fiber the libc
// calls underneath wait on the hub instead.
//
// `legacy_task` below is the unmodified code: no grove in it. The program runs it in N fibers
// twice — once in a copy of itself started with GROVE_SHIMS=0 (the shims switched off: the
// pitfall), once as it is (the fix) — and prints both times. The "remote" service is a local
// grove HTTP server on a thread of its own that answers after 200 ms.
//   blocking_libraries [--tasks N]    N fibers (default 5), each: ::sleep(1), a libcurl GET,
//                                     a GET over a plain socket (::send / ::recv)
//   blocking_libraries --tour         3 tasks
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <grove/event.hpp>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sample_args.hpp"

extern char** environ;

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

// --- the unmodified blocking code: what a program already has --------------------------------

std::size_t count_bytes(char*, std::size_t size, std::size_t n, void* total) {
  *static_cast<std::size_t*>(total) += size * n;
  return size * n;
}

/// A GET with libcurl's easy API; throws on failure.
void curl_get(const std::string& url) {
  CURL* easy = curl_easy_init();
  std::size_t bytes = 0;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, count_bytes);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &bytes);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, 60L);
  CURLcode rc = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  if (rc != CURLE_OK) throw std::runtime_error(std::string("libcurl: ") + curl_easy_strerror(rc));
}

/// The same GET over a plain blocking socket: ::socket, ::connect, ::send, ::recv until EOF.
void socket_get(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const char request[] = "GET /slow HTTP/1.0\r\n\r\n";
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::send(fd, request, sizeof request - 1, MSG_NOSIGNAL) == sizeof request - 1;
  char buffer[1024];
  ssize_t n = 0;
  while (ok && (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
  }
  int saved = errno;
  ::close(fd);
  if (!ok || n < 0) throw std::runtime_error(std::string("socket GET: ") + std::strerror(saved));
}

/// One task of a program written without fibers in mind.
void legacy_task(std::uint16_t port) {
  ::sleep(1);
  curl_get("http://127.0.0.1:" + std::to_string(port) + "/slow");
  socket_get(port);
}

// --- the stage: a slow "remote" service on a thread of its own ---------------------------------

/// Answers every HTTP request after 200 ms (HTTP/1.0: one request a connection). It runs its own
/// hub on its own thread, standing in for a remote server: it keeps answering while the main
/// thread is stuck in a blocking call.
class slow_service {
 public:
  slow_service() {
    std::promise<std::uint16_t> ready;
    auto port = ready.get_future();
    thread_ = std::thread([this, &ready] {
      try {
        grove::run([&] {
          net::server server(net::tcp_listener::bind("127.0.0.1", 0), [](net::tcp_stream conn) {
            try {
              conn.read_until("\r\n\r\n");
              grove::this_fiber::sleep_for(200ms);
              conn.write_all("HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nslow!\n");
            } catch (const net::net_error&) {
            }
          });
          server.start();
          grove::event stop;
          auto work = boost::asio::make_work_guard(grove::hub::current().io_context());
          io_ = &grove::hub::current().io_context();
          stop_ = &stop;
          ready.set_value(server.listener().local_endpoint().port());
          stop.wait();
        });
      } catch (...) {
        if (!stop_) ready.set_exception(std::current_exception());
      }
    });
    try {
      port_ = port.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }
  ~slow_service() {
    boost::asio::post(*io_, [stop = stop_] { stop->set(); });
    thread_.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  std::thread thread_;
  std::uint16_t port_ = 0;
  boost::asio::io_context* io_ = nullptr;
  grove::event* stop_ = nullptr;
};

/// Runs `tasks` legacy tasks in fibers; returns the seconds they took.
double run_tasks(int tasks, std::uint16_t port) {
  return grove::run([&] {
    auto start = std::chrono::steady_clock::now();
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < tasks; ++i) fibers.push_back(grove::spawn(legacy_task, port));
    for (auto& f : fibers) f.get();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
}

/// Runs this program again with GROVE_SHIMS=0 and `--measure N`; returns the seconds it printed.
double run_without_shims(const char* self, int tasks) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "GROVE_SHIMS=", 12) != 0) env_strings.emplace_back(*e);
  }
  env_strings.emplace_back("GROVE_SHIMS=0");
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::string count = std::to_string(tasks);
  const char* argv[] = {self, "--measure", count.c_str(), nullptr};

  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, const_cast<char**>(argv),
                         env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    throw std::runtime_error(std::string("cannot start a copy of itself: ") + std::strerror(rc));
  }
  std::string output;
  char chunk[256];
  ssize_t n;
  while ((n = ::read(out[0], chunk, sizeof chunk)) > 0) output.append(chunk, n);
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("the GROVE_SHIMS=0 run failed");
  }
  return std::strtod(output.c_str(), nullptr);
}

const char* usage =
    "usage: blocking_libraries [--tasks N] [--tour]\n"
    "Runs N fibers of unmodified blocking code — ::sleep(1), a libcurl GET and a GET over a\n"
    "plain socket (::send/::recv) against a local server answering after 200 ms — once with\n"
    "the shims switched off (GROVE_SHIMS=0: the pitfall) and once with them (the fix), and\n"
    "prints both times.\n"
    "  --tasks N    fibers, 1 to 1000 (default 5)\n"
    "  --tour       3 tasks (unless --tasks is given)\n"
    "  --measure N  internal: run N tasks, print the seconds only (the GROVE_SHIMS=0 copy)\n";

}  // namespace

int main(int argc, char** argv) {
  unsigned long task_count = 0, measure = 0;  // 0: not given
  bool tour = false;
  if (int rc = sample::parse_options(
          argc, argv, usage, {{"--tasks", &task_count, 1, 1000}, {"--measure", &measure, 1, 1000}},
          {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  bool measure_only = measure != 0;
  int tasks = static_cast<int>(measure_only ? measure : task_count ? task_count : tour ? 3 : 5);

  try {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    slow_service service;
    if (measure_only) {  // the copy started by run_without_shims
      std::printf("%.3f\n", run_tasks(tasks, service.port()));
      return 0;
    }
    std::printf(
        "%d fibers, each running unmodified blocking code: ::sleep(1), a libcurl GET and\n"
        "a plain ::send/::recv GET of a page that takes 200 ms (ideal: 1.4 s in all)\n",
        tasks);
    std::fflush(stdout);
    double without = run_without_shims(argv[0], tasks);
    std::printf(
        "  shims off (GROVE_SHIMS=0): %5.2f s  each call blocks the whole thread: the "
        "tasks run one after another\n",
        without);
    std::fflush(stdout);
    double with = run_tasks(tasks, service.port());
    std::printf(
        "  shims linked:              %5.2f s  the same code; every wait yields to the "
        "hub\n",
        with);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "blocking_libraries: %s\n", e.what());
    return 1;
  }
  return 0;
}
