// tls_context and tls_stream: OpenSSL over a memory BIO pair, the bytes moved by the
// tcp_stream's own (fiber-aware) calls. OpenSSL is only ever called in non-blocking steps, so no
// OpenSSL frame is on the stack while a fiber waits, and kills unwind through grove code only.
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>
#include <grove/detail/wait_queue.hpp>
#include <grove/hub.hpp>
#include <grove/net/tls.hpp>
#include <grove/timeout.hpp>
#include <string>
#include <utility>

namespace grove::net {
namespace {

class tls_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "grove.tls"; }
  std::string message(int value) const override {
    if (value == static_cast<int>(tls_errc::stream_truncated)) {
      return "the peer closed the connection without a TLS close_notify (truncated)";
    }
    if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(value))) {
      return reason;
    }
    char text[256];
    ERR_error_string_n(static_cast<unsigned long>(value), text, sizeof text);
    return text;
  }
};

/// The oldest error OpenSSL queued on this thread (the cause; later ones are consequences), as
/// an error code; clears the queue.
std::error_code take_openssl_error() noexcept {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return make_error_code(tls_errc::stream_truncated);
  return {static_cast<int>(code), tls_category()};
}

[[noreturn]] void fail_config(const char* what) {
  throw net_error(std::string("grove::net: TLS ") + what, take_openssl_error());
}

/// A read-only memory BIO over `text`, freed on scope exit.
struct pem_source {
  explicit pem_source(std::string_view text)
      : bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))) {
    if (!bio) fail_config("reading PEM text");
  }
  ~pem_source() { BIO_free(bio); }
  pem_source(const pem_source&) = delete;
  pem_source& operator=(const pem_source&) = delete;
  BIO* bio;
};

bool is_ip_address(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), address) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), address) == 1;
}

/// Bytes per direction of the BIO pair between OpenSSL and the socket: a full TLS record
/// (16 KiB of data plus header, MAC and padding) fits, so a record needs one write().
constexpr std::size_t pair_buffer_size = 17 * 1024;

}  // namespace

const std::error_category& tls_category() noexcept {
  static const tls_category_impl category;
  return category;
}

// ---------------------------------------------------------------------------------------------
// tls_context

tls_context::tls_context(tls_role role) : role_(role) {
  context_ = SSL_CTX_new(role == tls_role::client ? TLS_client_method() : TLS_server_method());
  if (!context_) fail_config("creating a context");
  SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
  // Idle connections give their read/write buffers back (34 KiB each): long-poll servers hold
  // many of them.
  SSL_CTX_set_mode(context_, SSL_MODE_RELEASE_BUFFERS);
  if (role == tls_role::client) {
    if (SSL_CTX_set_default_verify_paths(context_) != 1) fail_config("loading the system's CAs");
  }
  set_verify_peer(role == tls_role::client);
}

tls_context::tls_context(const tls_context& other) noexcept
    : context_(other.context_), role_(other.role_) {
  SSL_CTX_up_ref(context_);
}

tls_context& tls_context::operator=(const tls_context& other) noexcept {
  if (this != &other) {
    SSL_CTX_up_ref(other.context_);
    SSL_CTX_free(context_);
    context_ = other.context_;
    role_ = other.role_;
  }
  return *this;
}

tls_context::~tls_context() { SSL_CTX_free(context_); }

void tls_context::load_verify_file(const std::string& path) {
  if (SSL_CTX_load_verify_locations(context_, path.c_str(), nullptr) != 1) {
    fail_config(("loading CA file " + path).c_str());
  }
}

void tls_context::add_certificate_authority(std::string_view pem) {
  pem_source source(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(context_);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(source.bio, nullptr, nullptr, nullptr)) {
    int ok = X509_STORE_add_cert(store, cert);
    X509_free(cert);
    if (ok != 1) fail_config("adding a CA certificate");
    ++added;
  }
  ERR_clear_error();  // the end of the text reads as "no start line"
  if (added == 0) {
    throw net_error("grove::net: TLS adding a CA certificate: no certificate in the PEM text",
                    std::make_error_code(std::errc::invalid_argument));
  }
}

bool tls_context::verify_peer() const noexcept {
  return (SSL_CTX_get_verify_mode(context_) & SSL_VERIFY_PEER) != 0;
}

void tls_context::set_verify_peer(bool on) {
  int mode = SSL_VERIFY_NONE;
  if (on) {
    mode = SSL_VERIFY_PEER;
    if (role_ == tls_role::server) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(context_, mode, nullptr);
}

void tls_context::use_certificate_chain_file(const std::string& path) {
  if (SSL_CTX_use_certificate_chain_file(context_, path.c_str()) != 1) {
    fail_config(("loading certificate chain " + path).c_str());
  }
}

void tls_context::use_certificate_chain(std::string_view pem) {
  pem_source source(pem);
  X509* leaf = PEM_read_bio_X509_AUX(source.bio, nullptr, nullptr, nullptr);
  if (!leaf) fail_config("reading a certificate");
  int ok = SSL_CTX_use_certificate(context_, leaf);
  X509_free(leaf);
  if (ok != 1) fail_config("using a certificate");
  SSL_CTX_clear_chain_certs(context_);
  while (X509* cert = PEM_read_bio_X509(source.bio, nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(context_, cert) != 1) {  // takes ownership on success
      X509_free(cert);
      fail_config("adding a chain certificate");
    }
  }
  ERR_clear_error();
}

void tls_context::use_private_key_file(const std::string& path) {
  if (SSL_CTX_use_PrivateKey_file(context_, path.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail_config(("loading private key " + path).c_str());
  }
}

void tls_context::use_private_key(std::string_view pem) {
  pem_source source(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(source.bio, nullptr, nullptr, nullptr);
  if (!key) fail_config("reading a private key");
  int ok = SSL_CTX_use_PrivateKey(context_, key);
  EVP_PKEY_free(key);
  if (ok != 1) fail_config("using a private key (does it match the certificate?)");
}

// ---------------------------------------------------------------------------------------------
// tls_stream

/// The session; on the heap so that the stream stays movable while OpenSSL holds pointers.
struct tls_stream::impl {
  impl(tcp_stream next_layer, const tls_context& ctx) : next(std::move(next_layer)), context(ctx) {
    ssl = SSL_new(context.native_handle());
    BIO* inner = nullptr;
    if (!ssl || BIO_new_bio_pair(&inner, pair_buffer_size, &network, pair_buffer_size) != 1) {
      SSL_free(ssl);
      fail_config("creating a session");
    }
    SSL_set_bio(ssl, inner, inner);  // the session owns its end of the pair
    if (context.role() == tls_role::client) {
      SSL_set_connect_state(ssl);
    } else {
      SSL_set_accept_state(ssl);
    }
  }
  ~impl() {
    SSL_free(ssl);
    BIO_free(network);
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  /// Runs `step` (one non-blocking OpenSSL call returning > 0 on success) until it succeeds,
  /// moving bytes between the pair and the socket as OpenSSL asks. Returns the step's result,
  /// 0 on close_notify (ec clear) or on error (ec set).
  template <class Step>
  int drive(Step step, std::error_code& ec) {
    for (;;) {
      ERR_clear_error();
      int result = step();
      int status = result > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, result);
      std::error_code failure;
      if (status == SSL_ERROR_SSL || status == SSL_ERROR_SYSCALL) failure = take_openssl_error();
      // Whatever OpenSSL wrote (handshake messages, records, an alert telling the peer why we
      // give up) goes out now.
      std::error_code flush_error = flush();
      if (failure) {
        ec = failure;
        return 0;
      }
      if (flush_error) {
        ec = flush_error;
        return 0;
      }
      switch (status) {
        case SSL_ERROR_NONE:
          return result;
        case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
          return 0;
        case SSL_ERROR_WANT_READ:
          if ((ec = fill())) return 0;
          continue;
        case SSL_ERROR_WANT_WRITE:  // the pair was full; flush() made room
          continue;
        default:
          ec = make_error_code(tls_errc::stream_truncated);
          return 0;
      }
    }
  }

  /// Sends every byte OpenSSL has written to the pair. One fiber at a time writes the socket;
  /// a second one waits, and the first has sent its bytes too by then.
  std::error_code flush() {
    while (flushing) flushed.wait();
    char* data = nullptr;
    if (BIO_nread0(network, &data) <= 0) return {};
    flushing = true;
    struct done_flushing {
      impl& s;
      ~done_flushing() {
        s.flushing = false;
        s.flushed.notify_all();
      }
    } guard{*this};
    for (;;) {
      int n = BIO_nread0(network, &data);
      if (n <= 0) return {};
      try {
        next.write_all(boost::asio::buffer(data, static_cast<std::size_t>(n)));
      } catch (const net_error& e) {
        return e.code();
      }
      BIO_nread(network, &data, n);
    }
  }

  /// Reads what the socket has into the pair. One fiber at a time reads the socket; a second
  /// one waits for it and then lets OpenSSL look again.
  std::error_code fill() {
    if (filling) {
      filled.wait();
      return {};
    }
    if (peer_closed) return make_error_code(tls_errc::stream_truncated);
    char* room = nullptr;
    int size = BIO_nwrite0(network, &room);
    if (size <= 0) return {};  // OpenSSL has unread input: it will take it first
    filling = true;
    struct done_filling {
      impl& s;
      ~done_filling() {
        s.filling = false;
        s.filled.notify_all();
      }
    } guard{*this};
    std::size_t n = 0;
    try {
      n = next.read_some(boost::asio::buffer(room, static_cast<std::size_t>(size)));
    } catch (const net_error& e) {
      return e.code();
    }
    if (n == 0) {  // end of the TCP stream while OpenSSL still expected records
      peer_closed = true;
      return make_error_code(tls_errc::stream_truncated);
    }
    BIO_nwrite(network, &room, static_cast<int>(n));
    return {};
  }

  tcp_stream next;
  tls_context context;
  SSL* ssl = nullptr;
  BIO* network = nullptr;  ///< grove's end of the pair: encrypted bytes in and out
  bool filling = false;
  bool flushing = false;
  bool peer_closed = false;
  detail::wait_queue filled{detail::wait_kind::tls_stream};
  detail::wait_queue flushed{detail::wait_kind::tls_stream};
};

tls_stream::tls_stream() noexcept = default;
tls_stream::tls_stream(tcp_stream next, const tls_context& context)
    : impl_(std::make_unique<impl>(std::move(next), context)) {}
tls_stream::tls_stream(tls_stream&& other) noexcept = default;
tls_stream& tls_stream::operator=(tls_stream&& other) noexcept = default;
tls_stream::~tls_stream() = default;

tls_stream tls_stream::connect(std::string_view host, std::uint16_t port,
                               const tls_context& context, std::chrono::nanoseconds limit) {
  auto attempt = [&] {
    tls_stream stream(tcp_stream::connect(host, port), context);
    stream.handshake(host);
    return stream;
  };
  if (limit <= limit.zero()) return attempt();
  grove::timeout scope(limit);
  try {
    return attempt();
  } catch (const timeout_error& e) {
    if (!e.from(scope)) throw;
    throw net_error("grove::net: TLS connect to " + std::string(host),
                    std::make_error_code(std::errc::timed_out));
  }
}

void tls_stream::handshake(std::string_view host) {
  boost::system::error_code ec;
  handshake(host, ec);
  if (!ec) return;
  std::string what = "TLS handshake";
  if (impl_) {
    long verify = SSL_get_verify_result(impl_->ssl);
    if (verify != X509_V_OK) {
      what += " (certificate verify failed: ";
      what += X509_verify_cert_error_string(verify);
      what += ")";
    }
  }
  fail(what.c_str(), ec);
}

void tls_stream::handshake(std::string_view host, boost::system::error_code& ec) {
  if (!impl_) {
    ec = detail::to_boost_error(std::make_error_code(std::errc::bad_file_descriptor));
    return;
  }
  SSL* ssl = impl_->ssl;
  if (impl_->context.role() == tls_role::client && !host.empty()) {
    std::string name(host);
    bool ip = is_ip_address(name);
    if (!ip) SSL_set_tlsext_host_name(ssl, name.c_str());  // SNI is for names only
    if (impl_->context.verify_peer()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                  : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      if (ok != 1) {
        ec = detail::to_boost_error(take_openssl_error());
        return;
      }
    }
  }
  std::error_code error;
  int done = impl_->drive([ssl] { return SSL_do_handshake(ssl); }, error);
  if (!error && done <= 0) error = make_error_code(tls_errc::stream_truncated);
  ec = detail::to_boost_error(error);
}

std::size_t tls_stream::receive(boost::asio::mutable_buffer buffer, std::error_code& ec) {
  if (buffer.size() == 0) return 0;
  if (!impl_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  int size = static_cast<int>(std::min<std::size_t>(buffer.size(), INT_MAX));
  SSL* ssl = impl_->ssl;
  int n = impl_->drive([&] { return SSL_read(ssl, buffer.data(), size); }, ec);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::size_t tls_stream::send(boost::asio::const_buffer buffer, std::error_code& ec) {
  if (buffer.size() == 0) return 0;
  if (!impl_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  int size = static_cast<int>(std::min<std::size_t>(buffer.size(), INT_MAX));
  SSL* ssl = impl_->ssl;
  int n = impl_->drive([&] { return SSL_write(ssl, buffer.data(), size); }, ec);
  if (!ec && n <= 0) ec = std::make_error_code(std::errc::broken_pipe);  // we sent close_notify
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

void tls_stream::read_exact(boost::asio::mutable_buffer buffer) {
  auto* data = static_cast<char*>(buffer.data());
  std::size_t left = buffer.size();
  while (left > 0) {
    std::size_t n = read_some(boost::asio::buffer(data, left));
    if (n == 0) fail("read_exact", make_error_code(net_errc::end_of_stream));
    data += n;
    left -= n;
  }
}

void tls_stream::write_all(boost::asio::const_buffer buffer) {
  auto* data = static_cast<const char*>(buffer.data());
  std::size_t left = buffer.size();
  while (left > 0) {
    std::error_code ec;
    std::size_t n = send(boost::asio::buffer(data, left), ec);
    if (ec) fail("write", ec);
    data += n;
    left -= n;
  }
}

void tls_stream::shutdown() {
  if (!impl_) fail("shutdown", std::make_error_code(std::errc::bad_file_descriptor));
  SSL* ssl = impl_->ssl;
  ERR_clear_error();
  // The first SSL_shutdown() queues close_notify (returns 0 until the peer's arrives); we do
  // not wait for the peer's: reads report it when it comes.
  int result = SSL_shutdown(ssl);
  std::error_code ec;
  if (result < 0) {
    int status = SSL_get_error(ssl, result);
    if (status != SSL_ERROR_WANT_READ && status != SSL_ERROR_WANT_WRITE) ec = take_openssl_error();
  }
  ERR_clear_error();
  if (std::error_code flush_error = impl_->flush(); !ec) ec = flush_error;
  if (ec) fail("shutdown", ec);
}

void tls_stream::close() noexcept {
  if (impl_) impl_->next.close();
}

bool tls_stream::is_open() const noexcept { return impl_ && impl_->next.is_open(); }

void tls_stream::set_timeout(std::chrono::nanoseconds limit) noexcept {
  if (impl_) impl_->next.set_timeout(limit);
}

tcp_stream& tls_stream::next_layer() noexcept { return impl_->next; }

tls_stream::executor_type tls_stream::get_executor() const {
  return hub::current().io_context().get_executor();
}

std::string tls_stream::protocol() const {
  if (!impl_ || !SSL_is_init_finished(impl_->ssl)) return {};
  return SSL_get_version(impl_->ssl);
}

ssl_st* tls_stream::native_handle() const noexcept { return impl_ ? impl_->ssl : nullptr; }

void tls_stream::fail(const char* what, std::error_code ec) const {
  std::string text = std::string("grove::net: ") + what;
  if (ec == std::errc::timed_out && impl_ && impl_->next.timeout() > impl_->next.timeout().zero()) {
    text += " (socket timeout)";
  }
  throw net_error(text, ec);
}

void teardown(boost::beast::role_type, tls_stream& stream, boost::system::error_code& ec) {
  ec = {};
  try {
    stream.shutdown();
    // Drain to the peer's close_notify or the end of the connection, as Beast's TCP teardown.
    for (int i = 0; i < 1024; ++i) {
      char buf[2048];
      boost::system::error_code read_error;
      std::size_t n = stream.read_some(boost::asio::buffer(buf), read_error);
      if (read_error || n == 0) break;
    }
  } catch (const net_error& e) {
    ec = detail::to_boost_error(e.code());
  }
  stream.close();
}

}  // namespace grove::net
