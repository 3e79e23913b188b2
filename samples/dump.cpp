// What is every fiber doing? A small line server (127.0.0.1) whose fibers wait on different
// things — connections reading their sockets, a worker on a queue, a flusher on a timer, a
// janitor on an event — and which prints grove::dump_fibers on stderr when it gets SIGUSR1:
//   dump [--port N] [--self-test]
//   kill -USR1 <pid>      # prints each fiber: state, what it waits on, where, spawn site, stack
// Each line a client sends is queued for the worker, which answers "ok <n>". --port 0 (the
// default) picks a free port. --self-test starts the server and two clients, sends itself
// SIGUSR1, lets the hub print the dump, and exits. GROVE_STACK_PAINT=1 makes the stack
// high-water marks exact.
#include <signal.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <string>
#include <vector>

#include "sample_args.hpp"

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

const char* usage =
    "usage: dump [--port N] [--self-test]\n"
    "  a line server on 127.0.0.1 (port N; 0, the default, picks a free one) that prints every\n"
    "  fiber (state, what it waits on, where, spawn site, stack use) on stderr at SIGUSR1.\n"
    "  --self-test: start it with two clients, send SIGUSR1 to itself, print the dump, exit\n";

struct job {
  std::string line;
  grove::promise<std::string>* reply;
};

/// The server's fibers: a worker on a queue, a flusher on a timer, a janitor on an event.
struct app {
  grove::queue<job> jobs{64};
  grove::event shutting_down;
  std::uint64_t served = 0;

  void worker() {
    for (;;) {
      job j = jobs.get();
      j.reply->set_value("ok " + std::to_string(++served) + "\n");
    }
  }
  void flusher() {
    for (;;) grove::this_fiber::sleep_for(30s);  // pretend to flush statistics
  }
  void janitor() { shutting_down.wait(); }

  void connection(net::tcp_stream conn) {
    try {
      for (;;) {
        std::string line = conn.read_until("\n");
        if (line.empty()) return;
        grove::promise<std::string> reply;
        jobs.put({line, &reply});
        conn.write_all(reply.get_future().get());
      }
    } catch (const net::net_error&) {
      // a client that resets is its own business
    }
  }
};

int serve(std::uint16_t port, bool self_test) {
  // Bound before the fibers start: a busy port then fails here, while no fiber refers to `a`
  // (a fiber spawned first would outlive the throw and run on the destroyed app).
  auto listener = net::tcp_listener::bind("127.0.0.1", port);
  app a;
  auto worker = grove::spawn({.name = "worker"}, [&] { a.worker(); });
  auto flusher = grove::spawn({.name = "flusher"}, [&] { a.flusher(); });
  auto janitor = grove::spawn({.name = "janitor"}, [&] { a.janitor(); });
  net::server server(std::move(listener),
                     [&](net::tcp_stream conn) { a.connection(std::move(conn)); });
  server.start();
  auto bound = server.listener().local_endpoint().port();
  std::printf("dump: listening on 127.0.0.1:%u; kill -USR1 %d prints every fiber\n",
              static_cast<unsigned>(bound), static_cast<int>(::getpid()));
  std::fflush(stdout);
  grove::dump_fibers_on(SIGUSR1);
  if (self_test) {
    std::vector<grove::fiber<void>> clients;
    for (int id = 1; id <= 2; ++id) {
      clients.push_back(grove::spawn({.name = "client " + std::to_string(id)}, [bound] {
        auto conn = net::tcp_stream::connect("127.0.0.1", bound);
        conn.write_all("hello\n");
        std::printf("client got: %s", conn.read_until("\n").c_str());
        conn.read_until("\n");  // waits until the server closes: shows in the dump
      }));
    }
    grove::this_fiber::sleep_for(100ms);  // the clients are connected and waiting
    std::printf("dump: sending SIGUSR1 to myself; the hub prints the dump on stderr\n");
    std::fflush(stdout);
    ::kill(::getpid(), SIGUSR1);
    grove::this_fiber::sleep_for(300ms);  // the dump runs on the hub between fibers
    server.stop(1s);
    for (auto& c : clients) c.join();
  } else {
    boost::asio::signal_set signals(grove::hub::current().io_context(), SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) grove::spawn([&] { server.stop(); });
    });
    server.serve_forever();
    signals.cancel();
  }
  a.shutting_down.set();
  for (auto* f : {&worker, &flusher}) f->kill();
  janitor.join();
  std::printf("dump: stopped after %llu request(s)\n", static_cast<unsigned long long>(a.served));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0;
  bool self_test = false;
  if (int rc = sample::parse_options(argc, argv, usage, {{"--port", &port, 0, 65535}},
                                     {{"--self-test", &self_test}, {"--tour", &self_test}});
      rc >= 0) {
    return rc;
  }
  try {
    return grove::run([&] { return serve(static_cast<std::uint16_t>(port), self_test); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dump: %s\n", e.what());
    return 1;
  }
}
