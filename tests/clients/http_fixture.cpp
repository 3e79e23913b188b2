// The libcurl tests' HTTP(S) server: grove::net::server on a thread with a hub of its own.
#include "http_fixture.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <chrono>
#include <exception>
#include <future>
#include <grove/event.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <grove/net/tls.hpp>
#include <optional>
#include <stdexcept>
#include <thread>

namespace grove_test {

namespace net = grove::net;

namespace {

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificates: ") + what + " failed");
}

template <class Write>
std::string to_pem(Write write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  check(write(bio.get()) == 1, "PEM_write");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

struct key_and_cert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~key_and_cert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

/// A self-signed CA when `issuer` is null, else a server leaf for 127.0.0.1 signed by it.
void make_certificate(key_and_cert& out, const char* common_name, const key_and_cert* issuer) {
  out.key = EVP_EC_gen("P-256");
  check(out.key != nullptr, "EVP_EC_gen");
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), issuer ? 2 : 1);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 24 * 3600);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(out.cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert : out.cert;
  EVP_PKEY* issuer_key = issuer ? issuer->key : out.key;
  X509_set_issuer_name(out.cert, X509_get_subject_name(issuer_cert));
  add_extension(out.cert, issuer_cert, NID_subject_key_identifier, "hash");
  if (issuer) {
    add_extension(out.cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
    add_extension(out.cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(out.cert, issuer_cert, NID_ext_key_usage, "serverAuth");
    add_extension(out.cert, issuer_cert, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  } else {
    add_extension(out.cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(out.cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  check(X509_sign(out.cert, issuer_key, EVP_sha256()) > 0, "X509_sign");
}

/// The delay asked for by a request head ("GET /delay/250 HTTP/1.1..."), in milliseconds.
int requested_delay_ms(std::string_view head) {
  constexpr std::string_view prefix = "GET /delay/";
  if (head.substr(0, prefix.size()) != prefix) return 0;
  int ms = 0;
  const char* first = head.data() + prefix.size();
  std::from_chars(first, head.data() + head.size(), ms);
  return ms;
}

}  // namespace

test_certificates make_test_certificates() {
  key_and_cert ca;
  key_and_cert leaf;
  make_certificate(ca, "grove clients test CA", nullptr);
  make_certificate(leaf, "127.0.0.1", &ca);
  test_certificates out;
  out.ca_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, ca.cert); });
  out.server_cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, leaf.cert); });
  out.server_key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, leaf.key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  return out;
}

struct delayed_http_server::state {
  std::optional<net::tls_context> tls;
  std::uint16_t port = 0;
  std::atomic<std::uint64_t> answered{0};
  // Set by the server thread before it reports ready; the destructor posts the stop through
  // the io_context (thread-safe) to the event its main fiber waits on.
  boost::asio::io_context* io = nullptr;
  grove::event* stop = nullptr;
  bool ready_sent = false;  // the server thread's own flag: it reports failure only before
  std::thread thread;

  /// Answers requests on one connection until the client closes it.
  template <class Stream>
  void serve_requests(Stream& stream) {
    static constexpr std::string_view response =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    std::string pending;
    char chunk[4096];
    try {
      for (;;) {
        std::size_t end;
        while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
          if (pending.size() > 64 * 1024) return;
          std::size_t n = stream.read_some(boost::asio::buffer(chunk));
          if (n == 0) return;
          pending.append(chunk, n);
        }
        int delay_ms = requested_delay_ms(std::string_view(pending).substr(0, end));
        pending.erase(0, end + 4);
        if (delay_ms > 0) grove::this_fiber::sleep_for(std::chrono::milliseconds(delay_ms));
        stream.write_all(response);
        answered.fetch_add(1, std::memory_order_relaxed);
      }
    } catch (const net::net_error&) {
      // The client went away (reset, or a TLS session cut short): nothing to answer.
    }
  }

  void handle(net::tcp_stream conn) {
    conn.set_no_delay();
    if (!tls) {
      serve_requests(conn);
      return;
    }
    net::tls_stream session(std::move(conn), *tls);
    try {
      session.handshake();
    } catch (const net::net_error&) {
      return;
    }
    serve_requests(session);
  }

  void run(std::promise<void>& ready) {
    grove::run([&] {
      net::server_options options;
      options.log_errors = false;
      net::server server(
          net::tcp_listener::bind("127.0.0.1", 0),
          [this](net::tcp_stream conn) { handle(std::move(conn)); }, options);
      port = server.listener().local_endpoint().port();
      grove::event stop_requested;
      auto work = boost::asio::make_work_guard(grove::hub::current().io_context());
      io = &grove::hub::current().io_context();
      stop = &stop_requested;
      server.start();
      ready_sent = true;
      ready.set_value();
      stop_requested.wait();
      server.stop(std::chrono::nanoseconds(0));
    });
  }
};

delayed_http_server::delayed_http_server(const test_certificates* certificates)
    : state_(std::make_unique<state>()) {
  if (certificates) {
    state_->tls.emplace(net::tls_role::server);
    state_->tls->use_certificate_chain(certificates->server_cert_pem);
    state_->tls->use_private_key(certificates->server_key_pem);
  }
  std::promise<void> ready;
  auto started = ready.get_future();
  state_->thread = std::thread([this, &ready] {
    try {
      state_->run(ready);
    } catch (...) {
      if (!state_->ready_sent) ready.set_exception(std::current_exception());
    }
  });
  try {
    started.get();
  } catch (...) {
    state_->thread.join();
    throw;
  }
}

delayed_http_server::~delayed_http_server() {
  grove::event* stop = state_->stop;
  boost::asio::post(*state_->io, [stop] { stop->set(); });
  state_->thread.join();
}

std::uint16_t delayed_http_server::port() const noexcept { return state_->port; }

std::string delayed_http_server::url(std::string_view path) const {
  return std::string(state_->tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(state_->port) + std::string(path);
}

std::uint64_t delayed_http_server::requests_answered() const noexcept {
  return state_->answered.load(std::memory_order_relaxed);
}

}  // namespace grove_test
