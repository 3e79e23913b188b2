// A concurrent web crawler against a local site it serves itself: a grove::pool bounds how many
// pages are fetched at once, a grove::timeout bounds each fetch, a grove::queue carries the links
// found. The site (http_app.hpp's server, another router) is a tree of pages with cross links,
// where some pages are slow, some fail with 500 and some never answer.
//   crawler [--pages N] [--concurrency N] [--timeout-ms N]
//   crawler --tour      300 pages, 20 at once, 300 ms per fetch
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <grove/pool.hpp>
#include <grove/queue.hpp>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "http_app.hpp"
#include "sample_args.hpp"

using namespace std::chrono_literals;
namespace net = grove::net;
namespace http = boost::beast::http;

namespace {

/// The site: /page/N links to its children 3N+1..3N+3 (while they exist) and back to page N/2.
/// Every 13th page takes 100 ms, every 23rd answers 500, every 37th never answers.
http_app::response site_page(const http_app::request& req, int pages) {
  std::string_view target(req.target().data(), req.target().size());
  int n = -1;
  if (target.starts_with("/page/")) n = std::atoi(std::string(target.substr(6)).c_str());
  if (n < 0 || n >= pages)
    return http_app::text_response(http::status::not_found, "no such page\n");
  if (n > 0 && n % 37 == 0) grove::this_fiber::sleep_for(1h);  // the crawler's timeout ends it
  if (n > 0 && n % 23 == 0) {
    return http_app::text_response(http::status::internal_server_error, "oops\n");
  }
  if (n > 0 && n % 13 == 0) grove::this_fiber::sleep_for(100ms);
  std::string body = "<html><body><h1>page " + std::to_string(n) + "</h1>\n";
  for (int child : {3 * n + 1, 3 * n + 2, 3 * n + 3, n / 2}) {
    if (child < pages && child != n) {
      body += "<a href=\"/page/" + std::to_string(child) + "\">page " + std::to_string(child) +
              "</a>\n";
    }
  }
  body += "</body></html>\n";
  auto res = http_app::text_response(http::status::ok, std::move(body));
  res.set(http::field::content_type, "text/html");
  return res;
}

/// Every href="..." of `html`.
std::vector<std::string> links_in(std::string_view html) {
  std::vector<std::string> links;
  for (std::size_t at = html.find("href=\""); at != std::string_view::npos;
       at = html.find("href=\"", at)) {
    at += 6;
    std::size_t end = html.find('"', at);
    if (end == std::string_view::npos) break;
    links.emplace_back(html.substr(at, end - at));
  }
  return links;
}

const char* usage =
    "usage: crawler [--pages N] [--concurrency N] [--timeout-ms N] [--tour]\n"
    "  crawls a local site of N pages (some slow, failing or hanging); prints pages/s\n"
    "  --pages N        pages on the site (default 2000)\n"
    "  --concurrency N  fetches at once, a grove::pool (default 50)\n"
    "  --timeout-ms N   limit of each fetch, a grove::timeout (default 500)\n"
    "  --tour           the defaults become 300 pages, 20 at once, 300 ms\n";

struct crawl_report {
  std::size_t fetched = 0, timeouts = 0, http_errors = 0, network_errors = 0, peak_in_flight = 0;
};

/// Crawls from /page/0 on 127.0.0.1:`port`, `concurrency` fetches at once, each within `limit`.
crawl_report crawl(std::uint16_t port, std::size_t concurrency, std::chrono::milliseconds limit) {
  crawl_report report;
  grove::queue<std::string> found;  // links waiting for a fetch
  std::unordered_set<std::string> seen{"/page/0"};
  std::size_t unfinished = 1;  // links queued or being fetched; 0 ends the crawl
  std::size_t in_flight = 0;
  found.put("/page/0");

  auto fetch = [&](const std::string& path) {
    ++in_flight;
    report.peak_in_flight = std::max(report.peak_in_flight, in_flight);
    try {
      grove::timeout t(limit);
      try {
        auto conn = net::tcp_stream::connect("127.0.0.1", port);
        boost::beast::flat_buffer buffer;
        auto res = http_app::get(conn, path, buffer);
        if (res.result() != http::status::ok) {
          ++report.http_errors;
        } else {
          ++report.fetched;
          for (auto& link : links_in(res.body())) {
            if (seen.insert(link).second) {
              ++unfinished;
              found.put(link);
            }
          }
        }
      } catch (const grove::timeout_error& e) {
        if (!e.from(t)) throw;
        ++report.timeouts;
      }
    } catch (const grove::net::net_error&) {
      ++report.network_errors;
    } catch (const boost::system::system_error&) {  // Beast: a malformed response
      ++report.network_errors;
    }
    --in_flight;
    if (--unfinished == 0) found.close();  // nothing queued, nothing running: done
  };

  grove::pool fetchers(concurrency);
  try {
    for (;;) fetchers.spawn(fetch, found.get());  // waits for a free slot
  } catch (const grove::queue_closed&) {
  }
  fetchers.join();
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long page_count = 0, concurrency = 0, timeout_ms = 0;  // 0: not given
  bool tour = false;
  if (int rc = sample::parse_options(argc, argv, usage,
                                     {{"--pages", &page_count, 1, 1e6},
                                      {"--concurrency", &concurrency, 1, 10000},
                                      {"--timeout-ms", &timeout_ms, 1, 600000}},
                                     {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  int pages = static_cast<int>(page_count ? page_count : tour ? 300 : 2000);
  if (!concurrency) concurrency = tour ? 20 : 50;
  std::chrono::milliseconds limit(timeout_ms ? timeout_ms : tour ? 300 : 500);

  grove::run([&] {
    http_app::http_options options;
    net::server_options server_options;
    server_options.stack_size = 64 * 1024;
    http_app::http_stats stats;
    net::server site(
        net::tcp_listener::bind("127.0.0.1", 0),
        [&](net::tcp_stream conn) {
          http_app::serve_http(
              std::move(conn), options, stats,
              [pages](const http_app::request& req) { return site_page(req, pages); });
        },
        server_options);
    site.start();
    std::printf(
        "site: %d pages on 127.0.0.1:%u (every 13th slow, every 23rd fails, every 37th "
        "hangs)\n",
        pages, site.listener().local_endpoint().port());
    std::printf("crawling with at most %zu fetches at once, %lld ms per fetch...\n", concurrency,
                static_cast<long long>(limit.count()));

    auto start = std::chrono::steady_clock::now();
    crawl_report r = crawl(site.listener().local_endpoint().port(), concurrency, limit);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::printf("fetched %zu pages in %.2f s: %.0f pages/s\n", r.fetched, seconds,
                static_cast<double>(r.fetched) / seconds);
    std::printf(
        "failures: %zu timed out, %zu HTTP errors, %zu network errors; at most %zu "
        "fetches ran at once\n",
        r.timeouts, r.http_errors, r.network_errors, r.peak_in_flight);
    site.stop(0s);  // the hanging pages are still "thinking": kill them
  });
}
