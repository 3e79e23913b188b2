// Promises of samples/chat_room.hpp, the chat_server sample's room and line protocol: a line
// reaches every client; a client that never reads is dropped without delaying the others.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <chrono>
#include <grove/grove.hpp>
#include <memory>
#include <string>
#include <vector>

#include "../../samples/chat_room.hpp"  // first: the header is self-contained

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

/// Reads lines until one equals `last` (included); the lines about joins and leaves skipped.
std::vector<std::string> read_until_line(net::tcp_stream& conn, const std::string& last) {
  std::vector<std::string> lines;
  for (int i = 0; i < 100000; ++i) {
    std::string line = conn.read_until("\n");
    if (line.empty()) break;
    if (line.starts_with("*** ") && line.find("too slow") == std::string::npos) continue;
    lines.push_back(line);
    if (line == last) break;
  }
  return lines;
}

}  // namespace

TEST_CASE("a line from one of three clients reaches all three") {
  grove::run([] {
    chat::chat_server server(0);
    std::vector<net::tcp_stream> clients;
    for (int i = 0; i < 3; ++i)
      clients.push_back(net::tcp_stream::connect("127.0.0.1", server.port()));
    grove::timeout t(5s);
    server.chat_room().wait_for_members(3);
    clients[1].write_all("hello from the middle\n");
    for (auto& c : clients) {
      std::vector<std::string> lines = read_until_line(c, "[2] hello from the middle\n");
      CHECK(lines.size() == 1);
    }
    clients[2].write_all("no newline at the end");
    clients[2].shutdown(net::shutdown_type::send);  // what is queued for it still arrives
    for (auto& c : clients) {
      std::vector<std::string> lines = read_until_line(c, "[3] no newline at the end\n");
      CHECK(lines.size() == 1);
    }
    server.stop();
  });
}

TEST_CASE("a client that never reads is dropped and never blocks the others") {
  grove::run([] {
    chat::chat_options options;
    // The clients share the server's hub here, so even the healthy ones read only when the hub
    // polls: between polls (every 256 switches) the kernel buffers must absorb ~50 lines.
    options.queue_limit = 64;
    options.send_buffer = 64 * 1024;
    chat::chat_server server(0, options);
    // Shared with the reading fibers, so that a failing check cannot destroy a stream under them.
    auto talker =
        std::make_shared<net::tcp_stream>(net::tcp_stream::connect("127.0.0.1", server.port()));
    auto listener =
        std::make_shared<net::tcp_stream>(net::tcp_stream::connect("127.0.0.1", server.port()));
    auto silent = net::tcp_stream::connect("127.0.0.1", server.port());
    silent.set_option(SOL_SOCKET, SO_RCVBUF, 4096);
    grove::timeout t(10s);
    server.chat_room().wait_for_members(3);

    constexpr int lines = 1000;
    auto receiving = grove::spawn([listener] { return read_until_line(*listener, "[1] end\n"); });
    auto echoes = grove::spawn([talker] { return read_until_line(*talker, "[1] end\n"); });
    auto start = std::chrono::steady_clock::now();
    std::string filler(400, '.');
    for (int i = 0; i < lines; ++i) talker->write_all(std::to_string(i) + filler + "\n");
    talker->write_all("end\n");
    auto got = receiving.get();
    auto echoed = echoes.get();
    CHECK(echoed.size() == lines + 2);  // the talker reads its own lines too
    auto elapsed = std::chrono::steady_clock::now() - start;

    CHECK(server.chat_room().dropped_count() == 1);
    REQUIRE(got.size() == lines + 2);  // every line, the notice about the silent client, "end"
    int notices = 0, in_order = 0;
    for (const auto& line : got) {
      if (line == "*** client 3 was too slow and was disconnected\n") {
        ++notices;
      } else if (line.starts_with("[1] " + std::to_string(in_order) + ".")) {
        ++in_order;
      }
    }
    CHECK(notices == 1);
    CHECK(in_order == lines);
    CHECK(elapsed < 5s);
    // The silent client finds its connection ended once it reads what was buffered.
    silent.set_timeout(5s);
    std::size_t drained = 0;
    char buf[4096];
    while (std::size_t n = silent.read_some(boost::asio::buffer(buf))) drained += n;
    CHECK(drained < lines * filler.size());
    server.stop();
  });
}
