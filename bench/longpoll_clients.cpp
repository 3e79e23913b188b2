// Idle long-poll clients for the http_server sample: opens N keep-alive connections, sends
// GET /poll on each, waits until the server says (GET /stats) that all N wait, then reads the
// server's RSS from /proc/<pid>/status; finally publishes one message and times how long all N
// answers take to arrive.
//   longpoll_clients PORT SERVER_PID [N=10000]
// Prints one line of key=value tokens (see run_bench.sh). Needs 2 * N descriptors between the
// two processes: raise `ulimit -n` first.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <grove/grove.hpp>
#include <grove/net/tcp.hpp>
#include <string>
#include <vector>

#include "../samples/http_app.hpp"
#include "bench_util.hpp"

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

long rss_kib(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

/// The number after "waiting " in the server's /stats.
std::size_t server_waiting(std::uint16_t port) {
  auto conn = net::tcp_stream::connect("127.0.0.1", port);
  boost::beast::flat_buffer buffer;
  auto body = http_app::get(conn, "/stats", buffer).body();
  return std::strtoul(body.c_str() + body.find("waiting ") + 8, nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  long port_number = 0, pid = 0, count = 10000;
  if (int rc = bench::parse_positional(
          argc, argv,
          "usage: longpoll_clients PORT SERVER_PID [N]   N idle long polls (default 10000) on "
          "127.0.0.1:PORT; the server's RSS",
          {{"PORT", port_number, 1, 65535},
           {"SERVER_PID", pid, 1, 1 << 30},
           {"N", count, 1, 1'000'000}},
          2);
      rc >= 0) {
    return rc;
  }
  auto port = static_cast<std::uint16_t>(port_number);
  auto n = static_cast<std::size_t>(count);
  return grove::run([&] {
    long before_kib = rss_kib(pid);
    std::size_t answered = 0;
    std::vector<grove::fiber<void>> clients;
    clients.reserve(n);
    grove::spawn_options small;
    small.stack_size = 64 * 1024;
    for (std::size_t i = 0; i < n; ++i) {
      clients.push_back(grove::spawn(small, [&] {
        auto conn = net::tcp_stream::connect("127.0.0.1", port);
        boost::beast::flat_buffer buffer;
        if (http_app::get(conn, "/poll", buffer).result_int() == 200) ++answered;
      }));
      if (i % 128 == 127) grove::this_fiber::sleep_for(1ms);  // pace the SYNs for the backlog
    }
    // Wait (60 s at most) until the server holds every poll; it is another process, so poll it.
    grove::timeout limit(60s);
    std::size_t waiting = 0;
    while ((waiting = server_waiting(port)) < n) grove::this_fiber::sleep_for(50ms);
    grove::this_fiber::sleep_for(200ms);  // let the server settle (freed read buffers etc.)
    long held_kib = rss_kib(pid);

    auto start = bench::clock_type::now();
    {
      auto conn = net::tcp_stream::connect("127.0.0.1", port);
      boost::beast::flat_buffer buffer;
      http_app::get(conn, "/publish?msg=wake", buffer);
    }
    for (auto& c : clients) c.join();
    double wake_ms = bench::ns_since(start) / 1e6;
    std::printf(
        "connections=%zu server_rss_before_kib=%ld server_rss_held_kib=%ld "
        "rss_bytes_per_connection=%.0f answered=%zu wake_all_ms=%.1f\n",
        waiting, before_kib, held_kib, (held_kib - before_kib) * 1024.0 / static_cast<double>(n),
        answered, wake_ms);
    return answered == n ? 0 : 1;
  });
}
