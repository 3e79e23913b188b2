// A local HTTP(S) server for the libcurl tests and benchmark: grove::net on a thread of its own
// (its own hub), so it keeps answering while the thread under test is blocked in a plain libc
// call (GROVE_SHIMS=0 runs the same test binaries to measure the serial time).
//
// `GET /delay/<ms>` answers "ok" after <ms> milliseconds; any other path answers at once.
// Connections are kept alive (HTTP/1.1) until the client closes them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace grove_test {

/// A server certificate for 127.0.0.1 and the CA that signed it, as PEM text.
struct test_certificates {
  std::string ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
};

/// Makes a fresh CA and a leaf for 127.0.0.1 / localhost signed by it (EC P-256: fast).
test_certificates make_test_certificates();

/// Listens on 127.0.0.1 (a free port) on a thread of its own until destroyed.
class delayed_http_server {
 public:
  /// Plain HTTP, or HTTPS with `certificates` (their server certificate and key).
  explicit delayed_http_server(const test_certificates* certificates = nullptr);
  delayed_http_server(const delayed_http_server&) = delete;
  delayed_http_server& operator=(const delayed_http_server&) = delete;
  /// Stops the server (requests still waiting are dropped) and joins its thread.
  ~delayed_http_server();

  /// The port it listens on.
  std::uint16_t port() const noexcept;
  /// "http://127.0.0.1:<port><path>" (https with certificates).
  std::string url(std::string_view path) const;
  /// Requests answered so far (read from any thread).
  std::uint64_t requests_answered() const noexcept;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace grove_test
