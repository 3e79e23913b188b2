// Promises of <grove/net/tls.hpp>: TLS client and server over loopback with certificates made at
// test time (a CA and a leaf for localhost / 127.0.0.1), verification failures that say why and
// leave the server running, kill and timeouts in TLS reads, truncation, full duplex, and Beast's
// HTTP and websocket over tls_stream.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tls.hpp>  // first: the header is self-contained
#include <memory>
#include <string>
#include <vector>

#include "../throws.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace net = grove::net;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

/// A private key and its certificate, as PEM text.
struct credentials {
  std::string key_pem;
  std::string cert_pem;
};

std::string to_pem(auto write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  REQUIRE(write(bio.get()) == 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext != nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

/// A certificate for `common_name`: a self-signed CA when `issuer` is null, else a leaf for
/// `alt_names` signed by `issuer`. EC P-256 keys: fast to make.
credentials make_certificate(const char* common_name, const credentials* issuer = nullptr,
                             const char* alt_names = nullptr) {
  static long serial = 1;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);

  X509* issuer_cert = cert;
  EVP_PKEY* issuer_key = key;
  if (issuer) {
    std::unique_ptr<BIO, decltype(&BIO_free)> c(
        BIO_new_mem_buf(issuer->cert_pem.data(), static_cast<int>(issuer->cert_pem.size())),
        &BIO_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> k(
        BIO_new_mem_buf(issuer->key_pem.data(), static_cast<int>(issuer->key_pem.size())),
        &BIO_free);
    issuer_cert = PEM_read_bio_X509(c.get(), nullptr, nullptr, nullptr);
    issuer_key = PEM_read_bio_PrivateKey(k.get(), nullptr, nullptr, nullptr);
    REQUIRE(issuer_cert != nullptr);
    REQUIRE(issuer_key != nullptr);
  }
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  add_extension(cert, issuer_cert, NID_subject_key_identifier, "hash");
  if (issuer) {
    add_extension(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
    add_extension(cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert, issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
    if (alt_names) add_extension(cert, issuer_cert, NID_subject_alt_name, alt_names);
  } else {
    add_extension(cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  REQUIRE(X509_sign(cert, issuer_key, EVP_sha256()) > 0);

  credentials out;
  out.cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert); });
  out.key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (issuer) {
    X509_free(issuer_cert);
    EVP_PKEY_free(issuer_key);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

/// One CA, a server certificate it signed for localhost and 127.0.0.1, and an unrelated CA.
struct test_pki {
  credentials ca = make_certificate("grove test CA");
  credentials server = make_certificate("localhost", &ca, "DNS:localhost,IP:127.0.0.1");
  credentials other_ca = make_certificate("some other CA");

  net::tls_context server_context() const {
    net::tls_context context(net::tls_role::server);
    context.use_certificate_chain(server.cert_pem);
    context.use_private_key(server.key_pem);
    return context;
  }
  net::tls_context client_context(const credentials& trusted) const {
    net::tls_context context(net::tls_role::client);
    context.add_certificate_authority(trusted.cert_pem);
    return context;
  }
};

const test_pki& pki() {
  static const test_pki instance;
  return instance;
}

/// A TLS server on a free loopback port that runs `handler` for each handshaken connection
/// (in a fiber of its own) and counts failed handshakes.
struct tls_test_server {
  template <class Handler>
  explicit tls_test_server(Handler handler, net::tls_context context = pki().server_context())
      : server(net::tcp_listener::bind("127.0.0.1", 0),
               [this, handler, context](net::tcp_stream tcp) {
                 net::tls_stream conn(std::move(tcp), context);
                 try {
                   conn.handshake();
                 } catch (const net::net_error& e) {
                   ++failed_handshakes;
                   last_error = e.what();
                   handshake_failed.notify_all();
                   return;
                 }
                 handler(conn);
               }) {
    server.start();
  }
  std::uint16_t port() { return server.listener().local_endpoint().port(); }
  /// Waits (1 s at most) until `n` handshakes have failed on the server's side.
  void wait_for_failures(int n) {
    grove::timeout t(1s);
    while (failed_handshakes < n) handshake_failed.wait();
  }

  int failed_handshakes = 0;
  grove::detail::wait_queue handshake_failed;
  std::string last_error;
  net::server server;
};

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

}  // namespace

TEST_CASE("a TLS client and server exchange data both ways after verifying the certificate") {
  grove::run([] {
    tls_test_server s([](net::tls_stream& conn) {
      char buf[8192];
      while (std::size_t n = conn.read_some(boost::asio::buffer(buf))) {
        conn.write_all(boost::asio::buffer(buf, n));
      }
      conn.shutdown();  // answers the client's close_notify
    });
    for (const char* host : {"localhost", "127.0.0.1"}) {  // a DNS name and an IP address SAN
      CAPTURE(host);
      auto conn = net::tls_stream::connect(host, s.port(), pki().client_context(pki().ca));
      CHECK(conn.protocol() == "TLSv1.3");
      std::string big(1 << 20, 'x');
      for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
      auto writer = grove::spawn([&] { conn.write_all(big); });  // full duplex: read meanwhile
      std::string echoed(big.size(), '\0');
      conn.read_exact(boost::asio::buffer(echoed));
      writer.get();
      CHECK(echoed == big);
      conn.shutdown();
      char rest[16];
      std::size_t n = conn.read_some(boost::asio::buffer(rest));
      CHECK(n == 0);  // the server's close_notify
    }
    CHECK(s.failed_handshakes == 0);
  });
}

TEST_CASE(
    "a client trusting another CA fails the handshake with a clear error; the server goes on") {
  grove::run([] {
    tls_test_server s([](net::tls_stream& conn) { conn.write_all("hello"); });
    try {
      net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().other_ca));
      FAIL("the handshake succeeded");
    } catch (const net::net_error& e) {
      std::string what = e.what();
      CAPTURE(what);
      CHECK(what.find("certificate verify failed") != std::string::npos);
      CHECK(what.find("unable to get local issuer certificate") != std::string::npos);
      CHECK(e.code().category() == net::tls_category());
    }
    auto good = net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().ca));
    char hello[5];
    good.read_exact(boost::asio::buffer(hello));
    CHECK(std::string(hello, 5) == "hello");
    s.wait_for_failures(1);
    CHECK(s.failed_handshakes == 1);
    CHECK(s.last_error.find("unknown ca") != std::string::npos);  // the client's alert
  });
}

TEST_CASE("a client expecting another host name fails the handshake with a clear error") {
  grove::run([] {
    tls_test_server s([](net::tls_stream& conn) { conn.write_all("hello"); });
    auto context = pki().client_context(pki().ca);
    for (const char* host : {"example.com", "127.0.0.2"}) {
      CAPTURE(host);
      auto tcp = net::tcp_stream::connect("127.0.0.1", s.port());
      net::tls_stream conn(std::move(tcp), context);
      try {
        conn.handshake(host);
        FAIL("the handshake succeeded");
      } catch (const net::net_error& e) {
        std::string what = e.what();
        CAPTURE(what);
        CHECK(what.find("certificate verify failed") != std::string::npos);
        CHECK(what.find("mismatch") != std::string::npos);  // "Hostname/IP address mismatch"
      }
    }
    s.wait_for_failures(2);
    CHECK(s.failed_handshakes == 2);
  });
}

TEST_CASE("a client with verification off accepts a certificate it cannot verify") {
  grove::run([] {
    tls_test_server s([](net::tls_stream& conn) { conn.write_all("hello"); });
    net::tls_context context(net::tls_role::client);
    context.set_verify_peer(false);
    CHECK_FALSE(context.verify_peer());
    auto conn = net::tls_stream::connect("localhost", s.port(), context);
    char hello[5];
    conn.read_exact(boost::asio::buffer(hello));
    CHECK(std::string(hello, 5) == "hello");
  });
}

TEST_CASE("a server requiring client certificates accepts a signed one and refuses none") {
  grove::run([] {
    auto server_context = pki().server_context();
    server_context.add_certificate_authority(pki().ca.cert_pem);
    server_context.set_verify_peer(true);
    tls_test_server s([](net::tls_stream& conn) { conn.write_all("hello"); }, server_context);

    auto client = make_certificate("client", &pki().ca);
    auto with_cert = pki().client_context(pki().ca);
    with_cert.use_certificate_chain(client.cert_pem);
    with_cert.use_private_key(client.key_pem);
    auto conn = net::tls_stream::connect("localhost", s.port(), with_cert);
    char hello[5];
    conn.read_exact(boost::asio::buffer(hello));
    CHECK(std::string(hello, 5) == "hello");

    // TLS 1.3: the client's handshake ends before the server checks its certificate; the
    // refusal arrives as an alert at the first read.
    auto without = net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().ca));
    bool refused =
        grove_test::throws<net::net_error>([&] { without.read_exact(boost::asio::buffer(hello)); });
    CHECK(refused);
    s.wait_for_failures(1);
    CHECK(s.failed_handshakes == 1);
  });
}

TEST_CASE("kill wakes a fiber blocked in a TLS read") {
  grove::run([] {
    grove::detail::wait_queue never;
    tls_test_server s([&](net::tls_stream&) { never.wait(); });  // handshakes, then says nothing
    auto conn = net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().ca));
    bool unwound = false;
    auto reader = grove::spawn([&] {
      struct flag {
        bool& b;
        ~flag() { b = true; }
      } f{unwound};
      char buf[16];
      conn.read_some(boost::asio::buffer(buf));
    });
    grove::this_fiber::yield();  // the reader runs and blocks: nothing but the kill can wake it
    auto start = clock_type::now();
    reader.kill();
    reader.join();
    CHECK(unwound);
    CHECK(ms_since(start) < 5000);  // ended by the kill, not a hang (generous: loaded CI)
    bool killed = grove_test::throws<grove::killed_error>([&] { reader.get(); });
    CHECK(killed);
    s.server.stop(0s);
  });
}

TEST_CASE("a scoped timeout and the socket's own timeout end a TLS read that gets nothing") {
  grove::run([] {
    grove::detail::wait_queue never;
    tls_test_server s([&](net::tls_stream&) { never.wait(); });
    auto conn = net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().ca));
    char buf[16];
    auto start = clock_type::now();
    {
      grove::timeout t(30ms);
      try {
        conn.read_some(boost::asio::buffer(buf));
        FAIL("the read returned");
      } catch (const grove::timeout_error& e) {
        CHECK(e.from(t));
      }
    }
    CHECK(ms_since(start) >= 29);
    conn.set_timeout(30ms);
    try {
      conn.read_some(boost::asio::buffer(buf));
      FAIL("the read returned");
    } catch (const net::net_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }
    s.server.stop(0s);
  });
}

TEST_CASE("a peer closing the connection without close_notify makes the read fail as truncated") {
  grove::run([] {
    tls_test_server s([](net::tls_stream& conn) {
      conn.write_all("partial");
      conn.next_layer().close();  // no close_notify
    });
    auto conn = net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().ca));
    char buf[7];
    conn.read_exact(boost::asio::buffer(buf));
    CHECK(std::string(buf, 7) == "partial");
    try {
      conn.read_some(boost::asio::buffer(buf));
      FAIL("the read returned");
    } catch (const net::net_error& e) {
      CHECK(e.code() == net::tls_errc::stream_truncated);
    }
    boost::system::error_code ec;
    conn.read_some(boost::asio::buffer(buf), ec);
    CHECK(ec);
  });
}

TEST_CASE("Beast http::read and http::write run over tls_stream, keep-alive included") {
  grove::run([] {
    tls_test_server s([](net::tls_stream& conn) {
      beast::flat_buffer buffer;
      for (;;) {
        http::request<http::string_body> req;
        beast::error_code ec;
        http::read(conn, buffer, req, ec);
        if (ec == http::error::end_of_stream || ec == boost::asio::error::eof) break;
        REQUIRE_FALSE(ec);
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.body() = "secure " + std::string(req.target());
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(conn, res);
      }
      conn.shutdown();
    });
    auto conn = net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().ca));
    beast::flat_buffer buffer;
    for (const char* target : {"/one", "/two"}) {
      http::request<http::empty_body> req{http::verb::get, target, 11};
      req.set(http::field::host, "localhost");
      http::write(conn, req);
      http::response<http::string_body> res;
      http::read(conn, buffer, res);
      CHECK(res.result() == http::status::ok);
      CHECK(res.body() == std::string("secure ") + target);
    }
    conn.shutdown();
  });
}

TEST_CASE("websocket::stream<tls_stream> handshakes, echoes and closes") {
  grove::run([] {
    tls_test_server s([](net::tls_stream& conn) {
      beast::websocket::stream<net::tls_stream&> ws(conn);
      ws.accept();
      beast::flat_buffer buffer;
      beast::error_code ec;
      for (;;) {
        ws.read(buffer, ec);
        if (ec) break;
        ws.write(buffer.data());
        buffer.clear();
      }
    });
    beast::websocket::stream<net::tls_stream> ws(
        net::tls_stream::connect("localhost", s.port(), pki().client_context(pki().ca)));
    ws.handshake("localhost", "/");
    ws.write(boost::asio::buffer(std::string("over tls")));
    beast::flat_buffer buffer;
    ws.read(buffer);
    CHECK(beast::buffers_to_string(buffer.data()) == "over tls");
    ws.close(beast::websocket::close_code::normal);
    CHECK_FALSE(ws.next_layer().is_open());
  });
}

TEST_CASE("tls_context reports unusable certificate files and PEM text") {
  net::tls_context context(net::tls_role::server);
  CHECK_THROWS_AS(context.use_certificate_chain_file("/nonexistent/cert.pem"), net::net_error);
  CHECK_THROWS_AS(context.use_private_key("not a key"), net::net_error);
  CHECK_THROWS_AS(context.add_certificate_authority("nothing here"), net::net_error);
  CHECK(context.role() == net::tls_role::server);
}
