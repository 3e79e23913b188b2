// A chat server: every line a client sends goes to every connected client (telnet / nc work as
// clients). Each client has a reader fiber and a writer fiber with a bounded queue, so a client
// that stops reading never slows the others: once it is queue_limit messages behind it is
// disconnected and the room is told (see chat_room.hpp for the policy).
//   chat_server [--port N] [--queue-limit N]     until Ctrl-C; try: nc 127.0.0.1 <port>
//   chat_server --tour     three clients chat, a fourth never reads while one floods; exits
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <string>

#include "chat_room.hpp"
#include "net_sample.hpp"

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

const char* usage =
    "usage: chat_server [--port N] [--queue-limit N] [--tour]\n"
    "  serves the chat on 127.0.0.1 until SIGINT/SIGTERM (try: nc 127.0.0.1 <port>)\n"
    "  --port N         listen on 127.0.0.1:N (default 7000; 0: any free port)\n"
    "  --queue-limit N  messages a client may fall behind before it is dropped (default 256)\n"
    "  --tour           three clients chat, a fourth never reads while one floods; then exit\n";

/// A tour client: a connection and a fiber that counts what it receives until `last` arrives.
struct tour_client {
  tour_client(const char* name, std::uint16_t port, std::string last)
      : name(name), conn(net::tcp_stream::connect("127.0.0.1", port)) {
    reader = grove::spawn([this, last] {
      for (;;) {
        std::string line = conn.read_until("\n");
        if (line.empty()) return;
        if (line.starts_with("[1] hello") || line.starts_with("*** client 4 was")) {
          std::printf("  %s received: %s", this->name, line.c_str());
        }
        if (line.find("flood") != std::string::npos) ++flood_lines;
        if (line == last) return;
      }
    });
  }
  const char* name;
  net::tcp_stream conn;
  grove::fiber<void> reader;
  int flood_lines = 0;
};

void tour() {
  chat::chat_options options;
  options.queue_limit = 64;
  chat::chat_server server(0, options);
  std::printf("chat server on 127.0.0.1:%u, queue limit %zu messages a client\n", server.port(),
              options.queue_limit);
  std::string last = "[2] that's all\n";
  tour_client alice("alice", server.port(), last);
  tour_client bob("bob", server.port(), last);
  tour_client carol("carol", server.port(), last);
  server.chat_room().wait_for_members(3);
  alice.conn.write_all("hello everyone\n");

  std::printf("dave connects and never reads; bob sends 2000 lines of 500 bytes:\n");
  auto dave = net::tcp_stream::connect("127.0.0.1", server.port());
  dave.set_option(SOL_SOCKET, SO_RCVBUF, 4096);
  server.chat_room().wait_for_members(4);
  auto start = std::chrono::steady_clock::now();
  std::string filler(480, '.');
  for (int i = 0; i < 2000; ++i) bob.conn.write_all("flood " + std::to_string(i) + filler + "\n");
  bob.conn.write_all("that's all\n");
  for (auto* c : {&alice, &bob, &carol}) {
    c->reader.get();
    std::printf("  %s got %d of 2000 flood lines\n", c->name, c->flood_lines);
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("the flood took %.0f ms; %llu slow client(s) dropped, nobody waited for dave\n", ms,
              static_cast<unsigned long long>(server.chat_room().dropped_count()));
  server.stop();
}

void serve(std::uint16_t port, std::size_t queue_limit) {
  chat::chat_options options;
  options.queue_limit = queue_limit;
  chat::chat_server server(port, options);
  sample::serve_until_signal("chat_server", server.port(), [&] { server.stop(); });
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 7000, queue_limit = 256;
  bool tour_only = false;
  if (int rc = sample::parse_options(
          argc, argv, usage, {{"--port", &port, 0, 65535}, {"--queue-limit", &queue_limit, 1, 1e6}},
          {{"--tour", &tour_only}});
      rc >= 0) {
    return rc;
  }
  return sample::run_sample(argv, tour_only, tour, [&] {
    serve(static_cast<std::uint16_t>(port), static_cast<std::size_t>(queue_limit));
  });
}
