// TLS for fibers: tls_context (certificates, trusted CAs, verification) and tls_stream (a TLS
// session over a tcp_stream, on OpenSSL).
//
// Example (a client; certificate verification is on by default, with SNI and a host-name check):
//   grove::net::tls_context context(grove::net::tls_role::client);   // the system's CAs
//   auto conn = grove::net::tls_stream::connect("example.org", 443, context);
//   conn.write_all("GET / HTTP/1.0\r\nHost: example.org\r\n\r\n");
//   char buf[4096];
//   while (std::size_t n = conn.read_some(boost::asio::buffer(buf))) ...   // 0: close_notify
//
// Example (a server):
//   grove::net::tls_context context(grove::net::tls_role::server);
//   context.use_certificate_chain_file("cert.pem");
//   context.use_private_key_file("key.pem");
//   grove::net::server s(grove::net::tcp_listener::bind("127.0.0.1", 8443),
//                        [&](grove::net::tcp_stream tcp) {
//                          grove::net::tls_stream conn(std::move(tcp), context);
//                          conn.handshake();
//                          ...
//                        });
//
// How it works: OpenSSL runs over a memory BIO pair; grove moves the bytes between the pair and
// the tcp_stream with the tcp_stream's own calls. OpenSSL never blocks and never sees the
// socket, so every wait is an ordinary grove socket wait: kill, scoped grove::timeout and the
// socket's set_timeout() work as everywhere, and an exception never crosses an OpenSSL frame.
// One fiber may read while another writes the same stream (as with tcp_stream); TLS records
// that one direction needs from the other (key updates, alerts) are handed over between them.
//
// tls_stream models Asio's SyncReadStream and SyncWriteStream, so Beast's synchronous HTTP and
// websocket code runs over it (websocket::stream<tls_stream> closes with the teardown() below).
// Errors: net_error; OpenSSL's errors carry codes of tls_category(), a failed certificate check
// says why in what() ("certificate verify failed: self-signed certificate", "... Hostname
// mismatch"). A peer that closes the TCP connection without close_notify makes reads fail with
// tls_errc::stream_truncated, so a truncation attack is never mistaken for the end of the data.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <grove/net/error.hpp>
#include <grove/net/tcp.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace grove::net {

/// grove's own TLS error codes; tls_category() also carries OpenSSL's packed error codes.
enum class tls_errc {
  stream_truncated = 1,  ///< the peer closed the connection without a TLS close_notify
};

/// The category of TLS errors: tls_errc values and OpenSSL error codes (ERR_get_error()).
const std::error_category& tls_category() noexcept;

/// Makes `e` an std::error_code, so `code == tls_errc::stream_truncated` works.
inline std::error_code make_error_code(tls_errc e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

/// Which side of the handshake a context is for.
enum class tls_role { client, server };

/// Configuration shared by many TLS streams: role, certificates, trusted CAs, verification.
/// Copies share one OpenSSL SSL_CTX (reference counted); configure it before the streams that
/// use it are created. Throws net_error (tls_category()) when a file or PEM text is unusable.
class tls_context {
 public:
  /// A context for `role`, TLS 1.2 or newer. Clients verify the server's certificate against
  /// the system's CAs (Debian: /etc/ssl/certs) and its host name; servers request no client
  /// certificate.
  explicit tls_context(tls_role role);
  tls_context(const tls_context& other) noexcept;
  tls_context& operator=(const tls_context& other) noexcept;
  ~tls_context();

  /// The role given at construction.
  tls_role role() const noexcept { return role_; }

  /// Trusts the CA certificates of a PEM file (in addition to the system's).
  void load_verify_file(const std::string& path);
  /// Trusts the CA certificates of PEM text (in addition to the system's).
  void add_certificate_authority(std::string_view pem);
  /// Client: verify the server (default on; off accepts any certificate, for tests only).
  /// Server: require a client certificate signed by a trusted CA (default off).
  void set_verify_peer(bool on);
  /// True when peers are verified (a setting of the shared SSL_CTX: every copy sees it).
  bool verify_peer() const noexcept;

  /// This side's certificate chain from a PEM file (leaf first).
  void use_certificate_chain_file(const std::string& path);
  /// This side's certificate chain from PEM text (leaf first).
  void use_certificate_chain(std::string_view pem);
  /// This side's private key from a PEM file; checked against the certificate if one is set.
  void use_private_key_file(const std::string& path);
  /// This side's private key from PEM text.
  void use_private_key(std::string_view pem);

  /// The OpenSSL context, for settings grove does not wrap (ciphers, ALPN...).
  ssl_ctx_st* native_handle() const noexcept { return context_; }

 private:
  ssl_ctx_st* context_ = nullptr;
  tls_role role_;
};

/// A TLS session over a tcp_stream. Movable while no fiber waits on it; hub thread only.
class tls_stream {
 public:
  using executor_type = tcp_stream::executor_type;

  /// An empty stream; assign one to it.
  tls_stream() noexcept;
  /// Wraps connected `next` (no I/O yet: call handshake()). The context's role decides which
  /// side of the handshake this stream takes.
  tls_stream(tcp_stream next, const tls_context& context);
  tls_stream(tls_stream&& other) noexcept;
  tls_stream& operator=(tls_stream&& other) noexcept;
  ~tls_stream();

  /// Connects to `host` and `port` and performs the client handshake, verifying the server's
  /// certificate for `host` (unless the context says not to). `limit` bounds the whole call with
  /// net_error(timed_out) (zero: no limit).
  static tls_stream connect(std::string_view host, std::uint16_t port, const tls_context& context,
                            std::chrono::nanoseconds limit = {});

  /// Performs the handshake. A client sends `host` as SNI and (with verification on) checks the
  /// server's certificate for it (a DNS name or an IP address); an empty host skips both.
  /// Throws net_error; a failed verification says why.
  void handshake(std::string_view host = {});
  /// handshake(), reporting failures in `ec` (kill and scoped timeouts still throw).
  void handshake(std::string_view host, boost::system::error_code& ec);

  /// Reads at least one byte of plaintext; returns the count, 0 once the peer sent close_notify.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value std::size_t
  read_some(const MutableBufferSequence& buffers) {
    std::error_code ec;
    std::size_t n = receive(first_buffer(buffers), ec);
    if (ec) fail("read", ec);
    return n;
  }
  /// Asio's SyncReadStream read_some: close_notify is boost::asio::error::eof.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value std::size_t
  read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    auto buffer = first_buffer(buffers);
    std::error_code error;
    std::size_t n = receive(buffer, error);
    ec = detail::to_boost_error(error);
    if (!error && n == 0 && buffer.size() > 0) ec = boost::asio::error::eof;
    return n;
  }
  /// Fills `buffers` completely; throws net_error(net_errc::end_of_stream) if the peer ends
  /// the session first.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value void read_exact(
      const MutableBufferSequence& buffers) {
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
      read_exact(boost::asio::mutable_buffer(*it));
    }
  }

  /// Encrypts and sends some of `buffers` (small buffers are gathered into one TLS record);
  /// returns how many plaintext bytes were taken.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value std::size_t write_some(
      const ConstBufferSequence& buffers) {
    std::error_code ec;
    std::size_t n = send_gathered(buffers, ec);
    if (ec) fail("write", ec);
    return n;
  }
  /// Asio's SyncWriteStream write_some.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value std::size_t write_some(
      const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    std::error_code error;
    std::size_t n = send_gathered(buffers, error);
    ec = detail::to_boost_error(error);
    return n;
  }
  /// Sends all of `buffers`.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value void write_all(
      const ConstBufferSequence& buffers) {
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
      write_all(boost::asio::const_buffer(*it));
    }
  }
  /// Sends all of `data`.
  void write_all(std::string_view data) { write_all(boost::asio::buffer(data)); }

  /// Sends close_notify (the peer's reads then return 0) and keeps the connection open for
  /// what the peer still sends; reads return 0 after the peer's own close_notify.
  void shutdown();
  /// Closes the TCP connection at once (no close_notify).
  void close() noexcept;
  /// True while the TCP connection is open.
  bool is_open() const noexcept;
  /// Bounds each later blocking call of the underlying socket (see socket::set_timeout).
  void set_timeout(std::chrono::nanoseconds limit) noexcept;

  /// The TCP stream underneath (its bytes are the encrypted records: do not read or write it).
  tcp_stream& next_layer() noexcept;
  /// The hub's executor, for Asio and Beast.
  executor_type get_executor() const;
  /// The negotiated protocol, e.g. "TLSv1.3" (empty before the handshake).
  std::string protocol() const;
  /// The OpenSSL session, for what grove does not wrap (peer certificate, ALPN...).
  ssl_st* native_handle() const noexcept;

 private:
  struct impl;

  template <class Buffers>
  static boost::asio::mutable_buffer first_buffer(const Buffers& buffers) {
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
      boost::asio::mutable_buffer b(*it);
      if (b.size() > 0) return b;
    }
    return {};
  }
  /// One TLS write per call: the first buffer, or the leading small buffers gathered (Beast
  /// writes a header as many little pieces; one record each would cost a syscall each).
  template <class Buffers>
  std::size_t send_gathered(const Buffers& buffers, std::error_code& ec) {
    constexpr std::size_t gather_limit = 4096;
    char gathered[gather_limit];
    std::size_t size = 0;
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (size + b.size() > gather_limit) {
        if (size == 0) return send(b, ec);  // a large first buffer goes as it is
        break;
      }
      std::memcpy(gathered + size, b.data(), b.size());
      size += b.size();
    }
    return send(boost::asio::const_buffer(gathered, size), ec);
  }

  std::size_t receive(boost::asio::mutable_buffer buffer, std::error_code& ec);
  std::size_t send(boost::asio::const_buffer buffer, std::error_code& ec);
  void read_exact(boost::asio::mutable_buffer buffer);
  void write_all(boost::asio::const_buffer buffer);
  [[noreturn]] void fail(const char* what, std::error_code ec) const;

  std::unique_ptr<impl> impl_;
};

/// Beast's websocket close handshake ends a tls_stream with this (found by ADL): close_notify,
/// then the TCP teardown.
void teardown(boost::beast::role_type role, tls_stream& stream, boost::system::error_code& ec);

}  // namespace grove::net

template <>
struct std::is_error_code_enum<grove::net::tls_errc> : std::true_type {};
