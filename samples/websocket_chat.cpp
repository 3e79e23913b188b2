// The chat over WebSocket: Beast's synchronous websocket::stream<grove::net::tcp_stream>, one
// reader and one writer fiber per client, the same bounded queues as chat_server (a client that
// stops reading is dropped, the others never wait). Open http://127.0.0.1:<port>/ in a browser
// for a minimal chat page.
//   websocket_chat [--port N] [--queue-limit N]   until Ctrl-C
//   websocket_chat --tour    three Beast websocket clients chat, a silent one is dropped; exits
#include "websocket_chat.hpp"

#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <string>

#include "net_sample.hpp"

using namespace std::chrono_literals;
namespace net = grove::net;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

const char* usage =
    "usage: websocket_chat [--port N] [--queue-limit N] [--tour]\n"
    "  serves the chat over WebSocket on 127.0.0.1 until SIGINT/SIGTERM (a page at /)\n"
    "  --port N         listen on 127.0.0.1:N (default 8090; 0: any free port)\n"
    "  --queue-limit N  messages a client may fall behind before it is dropped (default 256)\n"
    "  --tour           three clients chat, a silent fourth is dropped; then exit\n";

using ws_client = chat::websocket_client;
using chat::connect_client;

void tour() {
  chat::chat_options options;
  options.queue_limit = 64;
  chat::chat_server server(0, options, chat::serve_websocket_client);
  std::printf("websocket chat on ws://127.0.0.1:%u/\n", server.port());
  const char* names[] = {"alice", "bob", "carol"};
  std::vector<ws_client> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect_client(server.port()));
  server.chat_room().wait_for_members(3);

  std::vector<grove::fiber<int>> readers;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(grove::spawn([&, i] {
      int flood = 0;
      for (;;) {
        beast::flat_buffer buffer;
        clients[i].read(buffer);
        std::string text = beast::buffers_to_string(buffer.data());
        if (text.starts_with("[1] hello") || text.starts_with("*** client 4 was")) {
          std::printf("  %s received: %s\n", names[i], text.c_str());
        }
        if (text.find("flood") != std::string::npos) ++flood;
        if (text == "[2] that's all") return flood;
      }
    }));
  }
  clients[0].write(boost::asio::buffer(std::string("hello over websocket")));

  std::printf("dave connects and never reads; bob sends 2000 messages of 500 bytes:\n");
  auto dave = connect_client(server.port());
  dave.next_layer().set_option(SOL_SOCKET, SO_RCVBUF, 4096);
  server.chat_room().wait_for_members(4);
  std::string filler(480, '.');
  for (int i = 0; i < 2000; ++i) {
    clients[1].write(boost::asio::buffer("flood " + std::to_string(i) + filler));
  }
  clients[1].write(boost::asio::buffer(std::string("that's all")));
  for (int i = 0; i < 3; ++i) std::printf("  %s got %d of 2000\n", names[i], readers[i].get());
  std::printf("%llu slow client(s) dropped\n",
              static_cast<unsigned long long>(server.chat_room().dropped_count()));
  for (auto& c : clients) c.close(websocket::close_code::normal);
  server.stop();
}

void serve(std::uint16_t port, std::size_t queue_limit) {
  chat::chat_options options;
  options.queue_limit = queue_limit;
  chat::chat_server server(port, options, chat::serve_websocket_client);
  sample::serve_until_signal("websocket_chat", server.port(), [&] { server.stop(); });
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 8090, queue_limit = 256;
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
