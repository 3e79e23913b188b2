// Name resolution for fibers: getaddrinfo on the offload pool (gevent's default resolver), so a
// slow DNS server suspends only the calling fiber.
//
// Example:
//   for (const auto& endpoint : grove::net::resolve("localhost", "http")) {
//     std::cout << endpoint << '\n';   // 127.0.0.1:80, [::1]:80 ...
//   }
#pragma once

#include <sys/socket.h>

#include <grove/net/tcp.hpp>
#include <string_view>
#include <system_error>
#include <vector>

namespace grove::net {

/// Options for resolve().
struct resolve_options {
  int family = AF_UNSPEC;  ///< AF_INET or AF_INET6 to restrict the answer
  bool passive = false;    ///< AI_PASSIVE: an empty host means the wildcard address (to bind)
};

/// Resolves `host` and `service` (a port number, or a name from /etc/services such as "http")
/// to endpoints, in getaddrinfo's order. Throws net_error with a code of resolve_category()
/// (EAI_* values) when the name does not resolve.
std::vector<tcp_endpoint> resolve(std::string_view host, std::string_view service,
                                  const resolve_options& options = {});

/// The category of getaddrinfo's EAI_* error values (messages from gai_strerror).
const std::error_category& resolve_category() noexcept;

}  // namespace grove::net
