// The error grove::net throws: a grove::error carrying the std::error_code of the failure.
//
// Example:
//   try {
//     auto conn = grove::net::tcp_stream::connect("127.0.0.1", 9);
//   } catch (const grove::net::net_error& e) {
//     if (e.code() == std::errc::connection_refused) ...   // e.what(): what failed, and why
//   }
//
// Codes worth knowing: connection_refused, connection_reset (peer reset), broken_pipe (write
// after the peer closed), timed_out (a socket's own set_timeout() expired; a scoped
// grove::timeout throws grove::timeout_error instead), bad_file_descriptor (the socket was closed,
// possibly by another fiber while this one waited on it), message_size (read_until's limit),
// net_errc::end_of_stream (read_exact() met the end of the stream first). End of stream is not
// an error for read_some(): it returns 0.
#pragma once

#include <grove/error.hpp>
#include <string>
#include <system_error>

namespace grove::net {

/// grove::net's own error codes (errno covers the rest).
enum class net_errc {
  end_of_stream = 1,  ///< the peer ended the stream before the bytes a call needed arrived
};

/// The category of net_errc.
const std::error_category& net_category() noexcept;

/// Makes `e` an std::error_code, so `code == net_errc::end_of_stream` works.
inline std::error_code make_error_code(net_errc e) noexcept {
  return {static_cast<int>(e), net_category()};
}

/// A failed network operation: what() says which and why, code() is the error code.
class net_error : public grove::error {
 public:
  /// `what` describes the operation; the code's message is appended.
  net_error(const std::string& what, std::error_code code)
      : grove::error(what + ": " + code.message()), code_(code) {}
  /// The error code (errno values compare equal to std::errc constants).
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

}  // namespace grove::net

template <>
struct std::is_error_code_enum<grove::net::net_errc> : std::true_type {};
