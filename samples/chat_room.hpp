// The chat of samples/chat_server.cpp and samples/websocket_chat.cpp, shared with their tests
// (not part of grove's API).
//
// A room broadcasts every line to every member. Each member has a bounded queue and a writer
// fiber of its own, so broadcast() never waits: a slow client delays only itself.
// Policy when a queue fills: the client is too slow to follow the room (queue_limit messages
// behind). It is disconnected at once, its queue freed, and the room says so to the others
// ("*** client 3 was too slow and was disconnected"). Waiting for it would stall everyone;
// dropping messages silently would show it a conversation with holes.
#pragma once

#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <grove/detail/wait_queue.hpp>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace chat {

using namespace std::chrono_literals;

/// Limits of a chat room and its connections.
struct chat_options {
  std::size_t queue_limit = 256;        ///< undelivered messages a client may fall behind
  std::size_t line_limit = 4096;        ///< longest line a client may send
  std::size_t max_clients = 10000;      ///< further connections wait in the listen backlog
  int send_buffer = 64 * 1024;          ///< SO_SNDBUF of each client socket (0: the kernel's
                                        ///< autotuning, up to 4 MiB a client)
  std::size_t stack_size = 128 * 1024;  ///< of each connection's fiber (Beast's websocket
                                        ///< frames its reads and writes on the stack)
};

/// One shared message: a broadcast to n clients stores it once.
using message = std::shared_ptr<const std::string>;

class room;

/// A client's seat in a room: its queue of messages to send. Lives in the connection's fiber.
class member {
 public:
  /// Joins `r`; `disconnect` ends the client's connection (called if it is dropped).
  member(room& r, std::function<void()> disconnect);
  ~member();
  member(const member&) = delete;
  member& operator=(const member&) = delete;

  /// Waits for the next message to send; false once the member was dropped, or finished and
  /// everything queued was taken.
  bool next(message& out) {
    while (queue_.empty() && !dropped_ && !finishing_) ready_.wait();
    if (dropped_ || queue_.empty()) return false;
    out = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }
  /// The client sends no more: next() returns false once the queue is empty.
  void finish() {
    finishing_ = true;
    ready_.notify_all();
  }
  /// The member's number in its room (1, 2, ...).
  std::uint64_t id() const noexcept { return id_; }
  /// True once the room dropped it for being too slow.
  bool dropped() const noexcept { return dropped_; }

 private:
  friend class room;
  room& room_;
  std::function<void()> disconnect_;
  std::deque<message> queue_;
  grove::detail::wait_queue ready_;
  std::uint64_t id_ = 0;
  bool dropped_ = false;
  bool finishing_ = false;
};

/// The members and the broadcast. Hub thread only.
class room {
 public:
  explicit room(const chat_options& options = {}) : options_(options) {}

  /// Queues `text` for every member; drops (and disconnects) members queue_limit behind.
  void broadcast(std::string text) {
    auto shared = std::make_shared<const std::string>(std::move(text));
    std::vector<member*> too_slow;
    for (member* m : members_) {
      if (m->dropped_) continue;
      if (m->queue_.size() >= options_.queue_limit) {
        too_slow.push_back(m);
        continue;
      }
      m->queue_.push_back(shared);
      m->ready_.notify_one();
    }
    ++broadcasts_;
    for (member* m : too_slow) drop(*m);
  }
  /// Members now.
  std::size_t size() const noexcept { return members_.size(); }
  /// Members dropped for being too slow so far.
  std::uint64_t dropped_count() const noexcept { return dropped_; }
  /// Messages broadcast so far.
  std::uint64_t broadcast_count() const noexcept { return broadcasts_; }
  /// Waits until the room has at least `n` members (tours and tests).
  void wait_for_members(std::size_t n) {
    while (members_.size() < n) changed_.wait();
  }
  const chat_options& options() const noexcept { return options_; }

 private:
  friend class member;
  void drop(member& m) {
    m.dropped_ = true;
    m.queue_.clear();
    m.queue_.shrink_to_fit();
    m.ready_.notify_all();
    ++dropped_;
    m.disconnect_();  // must not throw
    broadcast("*** client " + std::to_string(m.id_) + " was too slow and was disconnected\n");
  }

  chat_options options_;
  std::vector<member*> members_;
  grove::detail::wait_queue changed_;
  std::uint64_t next_id_ = 1;
  std::uint64_t dropped_ = 0;
  std::uint64_t broadcasts_ = 0;
};

inline member::member(room& r, std::function<void()> disconnect)
    : room_(r), disconnect_(std::move(disconnect)), id_(r.next_id_++) {
  room_.members_.push_back(this);
  room_.changed_.notify_all();
}

inline member::~member() {
  std::erase(room_.members_, this);
  room_.changed_.notify_all();
}

/// Runs a member's writer fiber while `read_lines` reads the client in the calling fiber; ends
/// when either side ends. `send(text)` writes one message; `read_lines(deliver)` calls
/// deliver(text) per message until the client leaves; `disconnect()` (must not throw) makes
/// both sides end. The reader yields after each message: a burst read in one go would otherwise
/// fill every queue before any writer ran.
template <class Send, class ReadLines>
void run_member(room& r, std::function<void()> disconnect, Send send, ReadLines read_lines) {
  member me(r, disconnect);
  r.broadcast("*** client " + std::to_string(me.id()) + " joined\n");
  auto writer = grove::spawn({.name = "chat-writer", .stack_size = 64 * 1024}, [&] {
    message m;
    try {
      while (me.next(m)) send(*m);
    } catch (const grove::net::net_error&) {
    } catch (const boost::system::system_error&) {  // Beast's websocket errors
    }
    disconnect();  // the reader's next read then ends
  });
  struct stop_writer {  // on every exit, a kill of this fiber included: the writer uses our frame
    grove::fiber<void>& writer;
    ~stop_writer() {
      writer.kill();
      writer.join();
    }
  } guard{writer};
  try {
    read_lines([&](std::string text) {
      r.broadcast("[" + std::to_string(me.id()) + "] " + std::move(text));
      grove::this_fiber::yield();
    });
    // The client closed its side (or sends no more): what is queued for it still goes out.
    me.finish();
    writer.join_for(1s);
  } catch (const grove::net::net_error&) {
  } catch (const boost::system::system_error&) {
  }
  writer.kill();
  writer.join();  // now, so that it does not send the notice below to its own client
  if (!me.dropped()) r.broadcast("*** client " + std::to_string(me.id()) + " left\n");
}

/// Serves one line-protocol (telnet-style) client of `r`.
inline void serve_line_client(grove::net::tcp_stream conn, room& r) {
  if (r.options().send_buffer > 0) {
    conn.set_option(SOL_SOCKET, SO_SNDBUF, r.options().send_buffer);
  }
  run_member(
      r,
      [&conn] {
        try {
          conn.shutdown(grove::net::shutdown_type::both);  // wakes our reader and writer
        } catch (const grove::net::net_error&) {
        }
      },
      [&conn](const std::string& text) { conn.write_all(text); },
      [&](auto deliver) {
        for (;;) {
          std::string line = conn.read_until("\n", r.options().line_limit);
          if (line.empty()) return;               // the client left
          if (line.back() != '\n') line += '\n';  // a last line without newline
          deliver(std::move(line));
        }
      });
}

/// Serves one client of a room over a connection: serve_line_client, serve_websocket_client.
using client_handler = void (*)(grove::net::tcp_stream, room&);

/// A chat server on 127.0.0.1:`port` (0: a free port), started at construction; `serve` speaks
/// the protocol (lines by default).
class chat_server {
 public:
  explicit chat_server(std::uint16_t port, const chat_options& options = {},
                       client_handler serve = serve_line_client)
      : room_(options),
        server_(
            grove::net::tcp_listener::bind("127.0.0.1", port),
            [this, serve](grove::net::tcp_stream conn) { serve(std::move(conn), room_); },
            server_options(options)) {
    server_.start();
  }
  /// The port it listens on.
  std::uint16_t port() { return server_.listener().local_endpoint().port(); }
  /// Stops accepting and disconnects every client.
  void stop() { server_.stop(100ms); }
  room& chat_room() noexcept { return room_; }

 private:
  static grove::net::server_options server_options(const chat_options& options) {
    grove::net::server_options o;
    o.max_connections = options.max_clients;
    o.stack_size = options.stack_size;
    return o;
  }
  room room_;
  grove::net::server server_;
};

}  // namespace chat
