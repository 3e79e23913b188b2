// libcurl through the shims vs libcurl's own event loop (issue 7's goal: >= 0.8x the multi
// interface). The same requests to the same local server (a grove HTTP server on a thread of
// its own, answering at once, keep-alive), in alternating rounds of one run:
//   easy:  N fibers, each a plain blocking loop of curl_easy_perform on its own easy handle
//          (the code a user already has), made concurrent by libgrove_shims;
//   multi: the native asynchronous way — one thread, no fibers, a curl_multi handle driving N
//          easy handles, each re-added as soon as its transfer completes.
// Both reuse their connections (one per easy handle). Prints medians over the rounds as
// `key=value` tokens (see run_bench.sh):
//   curl_bench [FIBERS=50] [REQUESTS_PER_FIBER=200] [ROUNDS=5] [both|easy|multi]
// (one side only: for profiling it, e.g. under `strace -c -f`).
#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "../tests/clients/http_fixture.hpp"
#include "bench_util.hpp"

namespace {

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

CURL* make_easy(const std::string& url) {
  CURL* easy = curl_easy_init();
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
  return easy;
}

/// N fibers, each `per_fiber` blocking transfers on one easy handle; requests per second.
double easy_in_fibers(const std::string& url, int fibers, int per_fiber) {
  return grove::run([&] {
    auto start = bench::clock_type::now();
    std::vector<grove::fiber<int>> workers;
    for (int i = 0; i < fibers; ++i) {
      workers.push_back(grove::spawn([&] {
        CURL* easy = make_easy(url);
        int ok = 0;
        for (int r = 0; r < per_fiber; ++r) ok += curl_easy_perform(easy) == CURLE_OK ? 1 : 0;
        curl_easy_cleanup(easy);
        return ok;
      }));
    }
    int ok = 0;
    for (auto& w : workers) ok += w.get();
    double seconds = bench::ns_since(start) / 1e9;
    if (ok != fibers * per_fiber) throw std::runtime_error("easy: some transfers failed");
    return ok / seconds;
  });
}

/// One multi handle driving N easy handles, each re-added until it has done `per_handle`
/// transfers; requests per second.
double multi_on_one_thread(const std::string& url, int handles, int per_handle) {
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> easies;
  std::vector<int> done(handles, 0);
  for (int i = 0; i < handles; ++i) {
    easies.push_back(make_easy(url));
    curl_easy_setopt(easies.back(), CURLOPT_PRIVATE, reinterpret_cast<char*>(&done[i]));
  }
  auto start = bench::clock_type::now();
  for (CURL* e : easies) curl_multi_add_handle(multi, e);
  int ok = 0;
  int running = handles;
  while (running > 0) {
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      ok += msg->data.result == CURLE_OK ? 1 : 0;
      char* priv = nullptr;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
      int& count = *reinterpret_cast<int*>(priv);
      curl_multi_remove_handle(multi, e);
      if (++count < per_handle) {
        curl_multi_add_handle(multi, e);
        ++running;
      }
    }
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  double seconds = bench::ns_since(start) / 1e9;
  for (CURL* e : easies) curl_easy_cleanup(e);
  curl_multi_cleanup(multi);
  if (ok != handles * per_handle) throw std::runtime_error("multi: some transfers failed");
  return ok / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  long fibers = 50, per_fiber = 200, rounds = 5;
  std::string mode = "both";
  if (int rc = bench::parse_positional(
          argc, argv,
          "usage: curl_bench [FIBERS=50] [REQUESTS_PER_FIBER=200] [ROUNDS=5] [both|easy|multi]\n"
          "libcurl requests/s: N fibers of curl_easy_perform through the shims vs one\n"
          "curl_multi handle on one thread; medians of alternating rounds.",
          {{"FIBERS", fibers, 1, 10000},
           {"REQUESTS_PER_FIBER", per_fiber, 1, 1'000'000},
           {"ROUNDS", rounds, 1, 1000},
           {"MODE", mode, "both|easy|multi"}});
      rc >= 0) {
    return rc;
  }
  bool run_easy = mode == "both" || mode == "easy";
  bool run_multi = mode == "both" || mode == "multi";
  try {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    grove_test::delayed_http_server server;
    std::string url = server.url("/");
    // Warm-up: first connections, first stacks, OpenSSL's and libcurl's one-time set-up.
    if (run_easy) easy_in_fibers(url, static_cast<int>(fibers), 5);
    if (run_multi) multi_on_one_thread(url, static_cast<int>(fibers), 5);
    std::vector<double> easy, multi, ratio;
    for (long r = 0; r < rounds; ++r) {
      if (run_easy) {
        easy.push_back(easy_in_fibers(url, static_cast<int>(fibers), static_cast<int>(per_fiber)));
      }
      if (run_multi) {
        multi.push_back(
            multi_on_one_thread(url, static_cast<int>(fibers), static_cast<int>(per_fiber)));
      }
      if (run_easy && run_multi) ratio.push_back(easy.back() / multi.back());
    }
    if (!run_multi || !run_easy) {
      std::printf("fibers=%ld requests=%ld %s_rps=%.0f\n", fibers, fibers * per_fiber,
                  run_easy ? "easy_in_fibers" : "multi", bench::median(run_easy ? easy : multi));
      return 0;
    }
    std::printf(
        "fibers=%ld requests=%ld easy_in_fibers_rps=%.0f multi_rps=%.0f "
        "easy_over_multi=%.3f\n",
        fibers, fibers * per_fiber, bench::median(easy), bench::median(multi),
        bench::median(ratio));
    curl_global_cleanup();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "curl_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
