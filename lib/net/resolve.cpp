#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <grove/net/resolve.hpp>
#include <grove/offload.hpp>
#include <memory>
#include <string>

namespace grove::net {
namespace {

class resolve_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
};

struct addrinfo_deleter {
  void operator()(::addrinfo* list) const noexcept { ::freeaddrinfo(list); }
};

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const resolve_category_impl category;
  return category;
}

std::vector<tcp_endpoint> resolve(std::string_view host, std::string_view service,
                                  const resolve_options& options) {
  struct answer {
    std::vector<tcp_endpoint> endpoints;
    std::error_code ec;
  };
  // Runs on a pool thread: glibc's resolver blocks in its own poll(), out of grove's reach.
  answer a = offload(
      [](std::string host, std::string service, resolve_options options) {
        ::addrinfo hints{};
        hints.ai_family = options.family;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = options.passive ? AI_PASSIVE : 0;
        ::addrinfo* list = nullptr;
        int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                               service.empty() ? nullptr : service.c_str(), &hints, &list);
        answer out;
        if (rc == EAI_SYSTEM) {
          out.ec = {errno, std::system_category()};
        } else if (rc != 0) {
          out.ec = {rc, resolve_category()};
        }
        std::unique_ptr<::addrinfo, addrinfo_deleter> owner(list);
        for (::addrinfo* ai = list; ai; ai = ai->ai_next) {
          if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
          tcp_endpoint endpoint;
          std::memcpy(endpoint.data(), ai->ai_addr, ai->ai_addrlen);
          endpoint.resize(ai->ai_addrlen);
          out.endpoints.push_back(endpoint);
        }
        return out;
      },
      std::string(host), std::string(service), options);
  if (a.ec) {
    throw net_error(
        "grove::net: resolve '" + std::string(host) + "' '" + std::string(service) + "'", a.ec);
  }
  if (a.endpoints.empty()) {
    throw net_error("grove::net: resolve '" + std::string(host) + "'",
                    {EAI_NONAME, resolve_category()});
  }
  return a.endpoints;
}

}  // namespace grove::net
