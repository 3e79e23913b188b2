// sharded_server: a grove::net::server per hub on one SO_REUSEPORT address, stopped together.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <grove/cross_thread.hpp>
#include <grove/event.hpp>
#include <grove/hub.hpp>
#include <grove/hub_ref.hpp>
#include <grove/net/sharded_server.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/sys.hpp"
#include "net/socket_name.hpp"

namespace grove::detail {

/// What the server object and every share (and the stop requests in flight to them) share; it
/// lives as long as the last of them.
struct sharded_state {
  net::tcp_endpoint endpoint;
  net::sharded_server::handler_type handler;
  net::server_options options;
  net::listen_options listen;
  int reservation = -1;

  /// A hub serving its share. `stop` lives on that share's fiber stack and is touched only on
  /// that hub (by serve() and by the stop request posted there).
  struct share {
    std::uint64_t id;
    hub_ref hub;
    event* stop;
    bool accepting = false;  ///< its accept loop has started
  };
  mutable std::mutex mutex;  ///< guards what follows
  std::vector<share> shares;
  std::uint64_t next_id = 0;
  bool stop_requested = false;
  std::chrono::nanoseconds grace{0};
  /// Set once stop() was called and no share serves any more (final: none may join after).
  event all_stopped{cross_thread};
  /// Set (then replaced by a fresh one) whenever a share starts accepting or stop() is called:
  /// what wait_serving() waits on. A waiter takes the current one under the mutex, so no change
  /// after its check can be missed.
  std::shared_ptr<event> serving_changed = std::make_shared<event>(cross_thread);

  /// Shares whose accept loop runs (mutex held).
  std::size_t accepting() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(shares.begin(), shares.end(), [](const share& s) { return s.accepting; }));
  }
  /// Wakes wait_serving()'s waiters (mutex held).
  void announce_serving_change() {
    serving_changed->set();
    serving_changed = std::make_shared<event>(cross_thread);
  }

  ~sharded_state() {
    if (reservation >= 0) sys::close(reservation);
  }

  /// Registers a share; nullopt once stop() has been called.
  std::optional<std::uint64_t> join(hub_ref hub, event* stop) {
    std::lock_guard lock(mutex);
    if (stop_requested) return std::nullopt;
    shares.push_back({next_id, std::move(hub), stop});
    return next_id++;
  }
  /// The share's accept loop has started.
  void started(std::uint64_t id) {
    std::lock_guard lock(mutex);
    for (auto& s : shares) {
      if (s.id == id) s.accepting = true;
    }
    announce_serving_change();
  }
  void leave(std::uint64_t id) noexcept {
    std::lock_guard lock(mutex);
    std::erase_if(shares, [id](const share& s) { return s.id == id; });
    if (stop_requested && shares.empty()) all_stopped.set();
  }
  /// Runs on the share's own hub, as a callback: wakes its serve() if it still serves.
  void request_stop_of(std::uint64_t id) noexcept {
    std::lock_guard lock(mutex);
    for (auto& s : shares) {
      if (s.id == id) s.stop->set();
    }
  }
};

}  // namespace grove::detail

namespace grove::net {
namespace {

std::string describe(const tcp_endpoint& endpoint) {
  std::string host = endpoint.address().to_string();
  if (endpoint.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

tcp_endpoint parse(std::string_view address, std::uint16_t port) {
  boost::system::error_code ec;
  auto parsed = boost::asio::ip::make_address(std::string(address), ec);
  if (ec) {
    throw net_error(
        "grove::net::sharded_server: '" + std::string(address) + "' is not a numeric IP address",
        std::make_error_code(std::errc::invalid_argument));
  }
  return {parsed, port};
}

/// A socket bound to `endpoint`, with SO_REUSEADDR / SO_REUSEPORT as asked; resolves port 0 in
/// `endpoint`.
int bind_socket(tcp_endpoint& endpoint, bool reuse_address, bool reuse_port) {
  std::string what = "grove::net::sharded_server: bind to " + describe(endpoint);
  int fd = detail::sys::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw net_error(what, {errno, std::system_category()});
  int on = 1;
  if ((reuse_address &&
       detail::sys::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) ||
      (reuse_port && detail::sys::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
      detail::sys::bind(fd, endpoint.data(), static_cast<::socklen_t>(endpoint.size())) != 0) {
    int e = errno;
    detail::sys::close(fd);
    throw net_error(what, {e, std::system_category()});
  }
  try {
    endpoint = socket_name<tcp_endpoint>(fd, false);
  } catch (...) {
    detail::sys::close(fd);
    throw;
  }
  return fd;
}

/// A bound SO_REUSEPORT socket that never listens: it holds the port (resolving 0) for the
/// shares, and the kernel never gives it a connection (only listeners receive them). A probe
/// without SO_REUSEPORT binds first, so that a port another program (or a second copy of this
/// one) holds is reported busy instead of being silently shared; the reservation itself has no
/// SO_REUSEADDR, so later probes fail on it too (our listeners join it through SO_REUSEPORT).
int reserve(tcp_endpoint& endpoint, const listen_options& listen) {
  int probe = bind_socket(endpoint, listen.reuse_address, false);
  detail::sys::close(probe);
  return bind_socket(endpoint, false, true);
}

}  // namespace

sharded_server::sharded_server(const tcp_endpoint& endpoint, handler_type handler,
                               server_options options, listen_options listen)
    : state_(std::make_shared<detail::sharded_state>()) {
  state_->endpoint = endpoint;
  state_->handler = std::move(handler);
  state_->options = options;
  state_->listen = listen;
  state_->listen.reuse_port = true;
  state_->grace = options.stop_grace;
  state_->reservation = reserve(state_->endpoint, listen);
}

sharded_server::sharded_server(std::string_view address, std::uint16_t port, handler_type handler,
                               server_options options, listen_options listen)
    : sharded_server(parse(address, port), std::move(handler), options, listen) {}

sharded_server::~sharded_server() = default;

tcp_endpoint sharded_server::local_endpoint() const { return state_->endpoint; }

std::uint16_t sharded_server::port() const { return state_->endpoint.port(); }

void sharded_server::serve() {
  auto state = state_;  // a share keeps the state alive, whatever happens to this object
  if (stop_requested()) return;
  server share(tcp_listener::bind(state->endpoint, state->listen), state->handler, state->options);
  event stop;
  auto id = state->join(hub::current().ref(), &stop);
  if (!id) return;
  struct leave_on_exit {
    detail::sharded_state& state;
    std::uint64_t id;
    ~leave_on_exit() { state.leave(id); }
  } leave{*state, *id};
  share.start();
  state->started(*id);
  // Killed while serving (run_on_cores stopping every core, say): stop this share gracefully,
  // as grove::net::serve does. server::stop is shielded: the kill waits until it is done.
  struct stop_on_exit {
    server& s;
    ~stop_on_exit() { s.stop(); }
  } guard{share};
  stop.wait();
  std::chrono::nanoseconds grace;
  {
    std::lock_guard lock(state->mutex);
    grace = state->grace;
  }
  share.stop(grace);
}

void sharded_server::stop() {
  std::chrono::nanoseconds grace;
  {
    std::lock_guard lock(state_->mutex);
    grace = state_->options.stop_grace;
  }
  stop(grace);
}

void sharded_server::stop(std::chrono::nanoseconds grace) {
  std::vector<std::pair<hub_ref, std::uint64_t>> targets;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stop_requested) return;
    state_->stop_requested = true;
    state_->grace = grace;
    for (auto& s : state_->shares) targets.emplace_back(s.hub, s.id);
    if (state_->shares.empty()) state_->all_stopped.set();
    state_->announce_serving_change();  // wait_serving() gives up
  }
  // Each share stops on its own hub; a hub that has ended has no share left to stop.
  for (auto& [hub, id] : targets) {
    hub.post([state = state_, id = id] { state->request_stop_of(id); });
  }
}

void sharded_server::wait_stopped() { state_->all_stopped.wait(); }

bool sharded_server::wait_serving_until(std::size_t n, std::chrono::steady_clock::time_point t) {
  for (;;) {
    std::shared_ptr<event> changed;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->stop_requested) return false;
      if (state_->accepting() >= n) return true;
      changed = state_->serving_changed;
    }
    if (!changed->wait_until(t)) return false;
  }
}

bool sharded_server::stop_requested() const {
  std::lock_guard lock(state_->mutex);
  return state_->stop_requested;
}

std::size_t sharded_server::shares() const {
  std::lock_guard lock(state_->mutex);
  return state_->shares.size();
}

}  // namespace grove::net
