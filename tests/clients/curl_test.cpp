// The shims with libcurl's easy API (Debian's libcurl4-openssl, unmodified): plain
// curl_easy_perform calls in fibers overlap instead of queueing behind one another, over HTTP
// and HTTPS against a local grove server that answers after 200 ms; the same binary with
// GROVE_SHIMS=0 takes the serial time; a kill or an expired scoped grove::timeout gets control
// back out of a transfer promptly, with an error from curl, and the handle is freed as usual.
#include <curl/curl.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/timeout.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client_fixture.hpp"
#include "http_fixture.hpp"

using namespace std::chrono_literals;
using grove_test::clock_type;
using grove_test::seconds_since;

namespace {

// curl_global_init is not thread-safe: once, before any thread (the servers') starts.
const struct curl_global {
  curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~curl_global() { curl_global_cleanup(); }
} curl_global_instance;

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

struct transfer_result {
  CURLcode code = CURLE_OK;
  long status = 0;
};

/// One plain blocking transfer, as any program writes it. `limit` is curl's own whole-transfer
/// timeout: a safety net, so that a shim that made curl retry forever shows up as a slow call
/// instead of a hung test.
transfer_result fetch(const std::string& url, const std::string* ca_pem,
                      std::chrono::milliseconds limit = 20s) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
  REQUIRE(easy != nullptr);
  curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(limit.count()));
  if (ca_pem) {
    curl_blob blob{const_cast<char*>(ca_pem->data()), ca_pem->size(), CURL_BLOB_COPY};
    curl_easy_setopt(easy.get(), CURLOPT_CAINFO_BLOB, &blob);
  }
  transfer_result result;
  result.code = curl_easy_perform(easy.get());
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

/// `count` fibers, each one fetch of a page that takes 200 ms; returns the seconds they took.
double fetch_in_fibers(const grove_test::delayed_http_server& server, const std::string* ca_pem,
                       int count) {
  std::string url = server.url("/delay/200");
  return grove::run([&] {
    auto start = clock_type::now();
    std::vector<grove::fiber<transfer_result>> transfers;
    for (int i = 0; i < count; ++i) {
      transfers.push_back(grove::spawn({.name = "fetch", .stack_size = 512 * 1024},
                                       [&] { return fetch(url, ca_pem); }));
    }
    int ok = 0;
    for (auto& t : transfers) {
      transfer_result r = t.get();
      if (r.code == CURLE_OK && r.status == 200) {
        ++ok;
      } else {
        MESSAGE("transfer failed: " << std::string(curl_easy_strerror(r.code)) << ", HTTP "
                                    << r.status);
      }
    }
    CHECK(ok == count);
    return seconds_since(start);
  });
}

}  // namespace

TEST_CASE("fifty curl_easy_perform calls in fibers take about 0.2 s together, not 10 s") {
  grove_test::delayed_http_server server;
  double concurrent = fetch_in_fibers(server, nullptr, 50);
  grove_test::compare_with_serial("HTTP", "transfers of 200 ms", concurrent,
                                  "serial child: ten HTTP transfers", 2.0);
}

TEST_CASE("fifty curl_easy_perform calls over HTTPS in fibers take about 0.2 s together") {
  auto certificates = grove_test::make_test_certificates();
  grove_test::delayed_http_server server(&certificates);
  double concurrent = fetch_in_fibers(server, &certificates.ca_pem, 50);
  // 50 TLS handshakes cost CPU, not waiting: about 13 ms each under ASan on a loaded 2-core
  // machine (1.2 s in all, measured), so the bound leaves room for them.
  grove_test::compare_with_serial("HTTPS", "transfers of 200 ms", concurrent,
                                  "serial child: ten HTTPS transfers", 3.0);
}

TEST_CASE("serial child: ten HTTP transfers" * doctest::skip()) {
  grove_test::delayed_http_server server;
  grove_test::report_serial_seconds(fetch_in_fibers(server, nullptr, 10));
}

TEST_CASE("serial child: ten HTTPS transfers" * doctest::skip()) {
  auto certificates = grove_test::make_test_certificates();
  grove_test::delayed_http_server server(&certificates);
  grove_test::report_serial_seconds(fetch_in_fibers(server, &certificates.ca_pem, 10));
}

namespace {

/// What happened to a transfer interrupted by a kill or a scoped timeout.
struct interrupted_transfer : grove_test::interruption {
  std::optional<transfer_result> result;  // set when curl_easy_perform returned
};

/// `fetch(url)` as the interrupted call: a fiber with room for OpenSSL.
auto fetching(interrupted_transfer& out, const std::string& url, const std::string* ca_pem) {
  return [&out, &url, ca_pem] {
    return [&out, &url, ca_pem](clock_type::time_point start) {
      out.result = fetch(url, ca_pem, 3s);
      out.call_seconds = seconds_since(start);
    };
  };
}

const grove::spawn_options victim_options{.name = "victim", .stack_size = 512 * 1024};

interrupted_transfer kill_during_transfer(const std::string& url, const std::string* ca_pem) {
  interrupted_transfer out;
  grove_test::kill_during_call(out, fetching(out, url, ca_pem), victim_options);
  return out;
}

interrupted_transfer time_out_during_transfer(const std::string& url, const std::string* ca_pem) {
  interrupted_transfer out;
  grove_test::time_out_during_call(out, fetching(out, url, ca_pem), victim_options);
  return out;
}

}  // namespace

TEST_CASE("a fiber killed inside curl_easy_perform gets control back at once with an error") {
  auto certificates = grove_test::make_test_certificates();
  grove_test::delayed_http_server http;
  grove_test::delayed_http_server https(&certificates);
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    auto& server = tls ? https : http;
    // The page takes 5 s; curl's own limit is 3 s.
    auto out =
        kill_during_transfer(server.url("/delay/5000"), tls ? &certificates.ca_pem : nullptr);
    CHECK(out.main_slept < 2.0);  // the hub kept running other fibers while curl waited
    REQUIRE(out.result);
    MESSAGE("killed transfer: " << std::string(curl_easy_strerror(out.result->code)) << " after "
                                << out.call_seconds << " s");
    CHECK(out.result->code != CURLE_OK);
    CHECK(out.end_seconds < 2.0);  // promptly: not curl's 3 s limit, not the server's 5 s
    CHECK(out.cpu_seconds < 0.5);  // nothing spun on the pending kill
    CHECK_FALSE(out.reached_end);  // the kill was raised at the next grove wait
  }
}

TEST_CASE("a scoped grove::timeout expiring inside curl_easy_perform makes it fail promptly") {
  auto certificates = grove_test::make_test_certificates();
  grove_test::delayed_http_server http;
  grove_test::delayed_http_server https(&certificates);
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    auto& server = tls ? https : http;
    auto out =
        time_out_during_transfer(server.url("/delay/5000"), tls ? &certificates.ca_pem : nullptr);
    CHECK(out.main_slept < 2.0);
    REQUIRE(out.result);
    MESSAGE("timed-out transfer: " << std::string(curl_easy_strerror(out.result->code)) << " after "
                                   << out.call_seconds << " s");
    CHECK(out.result->code != CURLE_OK);
    CHECK(out.call_seconds >= 0.15);  // not before the 200 ms scope expired
    CHECK(out.call_seconds < 2.0);    // promptly after it
    CHECK(out.cpu_seconds < 0.5);
    CHECK(out.grove_wait_threw);  // the expired scope was raised at the next grove wait
    CHECK(out.reached_end);
  }
}
