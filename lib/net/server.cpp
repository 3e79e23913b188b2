#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <grove/detail/deadline.hpp>
#include <grove/net/server.hpp>
#include <vector>

namespace grove::detail {
namespace {

constexpr std::chrono::milliseconds first_backoff{10};
constexpr std::chrono::milliseconds max_backoff{1000};

/// Errors of a connection that died before accept() returned it: accept again at once
/// (accept(2): "treat them like EAGAIN").
bool is_connection_error(int e) {
  switch (e) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM:  // refused by a firewall rule
      return true;
    default:
      return false;
  }
}

}  // namespace

void server_core::start(fiber<void> acceptor) {
  acceptor_ = std::move(acceptor);
  stopping_ = stopped_ = false;
}

void server_core::wait_for_slot() {
  while (options_.max_connections != 0 && connections_.size() >= options_.max_connections) {
    slot_free_.wait();
  }
}

bool server_core::handle_accept_error(const net::net_error& e) {
  if (e.code() == std::errc::bad_file_descriptor) return false;  // the listener was closed
  if (e.code().category() == std::system_category() && is_connection_error(e.code().value())) {
    return true;
  }
  // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) or anything unexpected: the
  // pending connection stays in the backlog; retrying at once would spin. Back off.
  backoff_ = backoff_ == backoff_.zero() ? first_backoff : std::min(backoff_ * 2, max_backoff);
  if (options_.log_errors) {
    std::fprintf(stderr, "grove::net::server: %s; accepting again in %lld ms\n", e.what(),
                 static_cast<long long>(backoff_.count()));
  }
  this_fiber::sleep_for(backoff_);
  return true;
}

void server_core::add(fiber<void> connection) {
  auto id = connection.id();
  connections_.emplace(id, std::move(connection));
}

void server_core::remove(std::uint64_t id) noexcept {
  connections_.erase(id);
  slot_free_.notify_one();
  handler_ended_.notify_all();
}

void server_core::stop(std::chrono::nanoseconds grace,
                       const std::function<void()>& close_listener) noexcept {
  this_fiber::shield shielded;  // a kill or timeout of the caller waits until we are done
  if (stopping_) {              // another fiber is stopping it: wait for that to finish
    while (!stopped_) stopped_queue_.wait();
    return;
  }
  stopping_ = true;
  // 1. Stop accepting; connections not accepted yet are refused when the listener closes.
  acceptor_.kill();
  acceptor_.join();
  close_listener();

  // 2. Let the handlers finish. A handler calling stop() is not waited for (nor killed).
  std::uint64_t self = this_fiber::id();
  std::size_t own = connections_.count(self);
  if (grace > grace.zero()) {
    auto deadline = deadline_after(grace);
    while (connections_.size() > own && handler_ended_.wait(deadline)) {
    }
  }

  // 3. Kill the rest and wait for them. A fiber killed before it started never runs its
  // handler, nor the scope that deregisters it: drop those entries here.
  std::vector<fiber<void>> victims;
  for (auto& [id, f] : connections_) {
    if (id != self) victims.push_back(f);
  }
  for (auto& f : victims) f.kill();
  for (auto& f : victims) f.join();
  std::erase_if(connections_, [](const auto& entry) { return entry.second.ready(); });
  stopped_ = true;
  stopped_queue_.notify_all();
}

void server_core::wait_stopped() {
  while (!stopped_) stopped_queue_.wait();
}

}  // namespace grove::detail
