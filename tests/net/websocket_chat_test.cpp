// Promises of samples/websocket_chat.hpp: the chat room over WebSocket, driven by Beast's
// websocket client in fibers and by Python's `websockets` (a real client of another stack).
#include "../../samples/websocket_chat.hpp"  // first: the header is self-contained

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <grove/grove.hpp>
#include <grove/offload.hpp>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace net = grove::net;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

using ws_client = chat::websocket_client;
using chat::connect_client;

/// Reads messages until one equals `last`; join and leave notices skipped.
std::vector<std::string> read_until_message(ws_client& ws, const std::string& last) {
  std::vector<std::string> messages;
  for (int i = 0; i < 100000; ++i) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    std::string text = beast::buffers_to_string(buffer.data());
    if (text.starts_with("*** ") && text.find("too slow") == std::string::npos) continue;
    messages.push_back(text);
    if (text == last) break;
  }
  return messages;
}

}  // namespace

TEST_CASE("a websocket message from one of three clients reaches all three") {
  grove::run([] {
    chat::chat_server server(0, {}, chat::serve_websocket_client);
    std::vector<ws_client> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(connect_client(server.port()));
    grove::timeout t(5s);
    server.chat_room().wait_for_members(3);
    clients[2].write(boost::asio::buffer(std::string("hi from three")));
    for (auto& c : clients) {
      auto messages = read_until_message(c, "[3] hi from three");
      CHECK(messages.size() == 1);
    }
    clients[0].close(websocket::close_code::normal);
    auto left = [&] {
      beast::flat_buffer buffer;
      clients[1].read(buffer);
      return beast::buffers_to_string(buffer.data());
    };
    std::string notice = left();
    CHECK(notice == "*** client 1 left");
    server.stop();
  });
}

TEST_CASE("a websocket client that never reads is dropped and never blocks the others") {
  grove::run([] {
    chat::chat_options options;
    options.queue_limit = 64;  // the clients share the server's hub: see chat_server_test.cpp
    chat::chat_server server(0, options, chat::serve_websocket_client);
    // Shared with the reading fibers, so that a failing check cannot destroy a stream under them.
    auto talker = std::make_shared<ws_client>(connect_client(server.port()));
    auto listener = std::make_shared<ws_client>(connect_client(server.port()));
    auto silent = connect_client(server.port());
    silent.next_layer().set_option(SOL_SOCKET, SO_RCVBUF, 4096);
    grove::timeout t(10s);
    server.chat_room().wait_for_members(3);

    constexpr int count = 1000;
    auto receiving = grove::spawn([listener] { return read_until_message(*listener, "[1] end"); });
    auto echoes = grove::spawn([talker] { return read_until_message(*talker, "[1] end"); });
    std::string filler(400, '.');
    for (int i = 0; i < count; ++i) talker->write(boost::asio::buffer(std::to_string(i) + filler));
    talker->write(boost::asio::buffer(std::string("end")));
    auto got = receiving.get();
    auto echoed = echoes.get();
    CHECK(echoed.size() == count + 2);
    CHECK(server.chat_room().dropped_count() == 1);
    REQUIRE(got.size() == count + 2);  // every message, the notice about the silent one, "end"
    CHECK(std::count(got.begin(), got.end(), "*** client 3 was too slow and was disconnected") ==
          1);
    server.stop();
  });
}

TEST_CASE("a plain HTTP request gets the chat page instead of a websocket") {
  grove::run([] {
    chat::chat_server server(0, {}, chat::serve_websocket_client);
    auto conn = net::tcp_stream::connect("127.0.0.1", server.port());
    conn.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(conn, buffer, res);
    CHECK(res.result() == beast::http::status::ok);
    CHECK(res.body().find("new WebSocket") != std::string::npos);
    server.stop();
  });
}

TEST_CASE("Python's websockets client chats with the grove server") {
  // Debian's python3-websockets is for Debian's interpreter, whatever else is first in PATH.
  if (std::system("/usr/bin/python3 -c 'import websockets' 2>/dev/null") != 0) {
    MESSAGE("python3-websockets is not installed (./test.sh installs it): skipped");
    return;
  }
  grove::run([] {
    chat::chat_server server(0, {}, chat::serve_websocket_client);
    auto beast_client = connect_client(server.port());
    std::string script =
        "import asyncio, sys, websockets\n"
        "async def main():\n"
        "    async with websockets.connect('ws://127.0.0.1:" +
        std::to_string(server.port()) +
        "/') as ws:\n"
        "        await ws.send('hello from python')\n"
        "        while True:\n"
        "            m = await asyncio.wait_for(ws.recv(), 10)\n"
        "            if m == '[1] hello back': return\n"
        "asyncio.run(main())\n";
    std::string command = "timeout 20 /usr/bin/python3 -c \"" + script + "\"";
    auto python = grove::spawn(
        [command] { return grove::offload([command] { return std::system(command.c_str()); }); });
    grove::timeout t(20s);
    auto messages = read_until_message(beast_client, "[2] hello from python");
    CHECK(messages.size() == 1);
    beast_client.write(boost::asio::buffer(std::string("hello back")));
    int python_status = python.get();
    CHECK(python_status == 0);
    server.stop();
  });
}
