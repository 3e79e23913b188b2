// Name resolution through libgrove_shims: in fibers getaddrinfo, getnameinfo and gethostby*
// (and the _r forms) give libc's answers, run concurrently on the offload pool (proved against
// a private DNS that answers after 300 ms, in a child's own namespaces: tests/shims/slow_dns.hpp)
// and end with ECANCELED / ETIMEDOUT on a kill or a scoped timeout. gethostbyname's static buffer
// is per fiber. Also run with GROVE_SHIMS=0 (the test named for it): lookups are serial then.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "slow_dns.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

bool shims_disabled() {
  const char* value = std::getenv("GROVE_SHIMS");
  return value && std::strcmp(value, "0") == 0;
}

std::string describe(const sockaddr* a) {
  char host[NI_MAXHOST] = "", service[NI_MAXSERV] = "";
  socklen_t length = a->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  // numeric only: no lookup, so it can run anywhere (also inside the fiber)
  getnameinfo(a, length, host, sizeof(host), service, sizeof(service),
              NI_NUMERICHOST | NI_NUMERICSERV);
  return std::string(host) + ":" + service;
}

/// getaddrinfo's whole answer as text: return code, then every entry.
std::string getaddrinfo_text(const char* node, const char* service, const addrinfo* hints) {
  addrinfo* list = nullptr;
  int rc = getaddrinfo(node, service, hints, &list);
  std::ostringstream out;
  out << "rc=" << rc;
  for (addrinfo* p = list; p; p = p->ai_next) {
    out << " [" << p->ai_flags << "," << p->ai_family << "," << p->ai_socktype << ","
        << p->ai_protocol << "," << p->ai_addrlen << "," << describe(p->ai_addr) << ","
        << (p->ai_canonname ? p->ai_canonname : "-") << "]";
  }
  if (list) freeaddrinfo(list);
  return out.str();
}

std::string hostent_text(const hostent* h) {
  if (!h) return "null h_errno=" + std::to_string(h_errno);
  std::ostringstream out;
  out << h->h_name << " type=" << h->h_addrtype << " len=" << h->h_length << " aliases:";
  for (char** a = h->h_aliases; *a; ++a) out << " " << *a;
  out << " addrs:";
  for (char** a = h->h_addr_list; *a; ++a) {
    char text[INET6_ADDRSTRLEN] = "";
    inet_ntop(h->h_addrtype, *a, text, sizeof(text));
    out << " " << text;
  }
  return out.str();
}

std::string getnameinfo_text(const char* ip, int flags) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(80);
  inet_pton(AF_INET, ip, &a.sin_addr);
  char host[NI_MAXHOST] = "", service[NI_MAXSERV] = "";
  int rc = getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof(a), host, sizeof(host), service,
                       sizeof(service), flags);
  return "rc=" + std::to_string(rc) + " " + host + " " + service;
}

struct query {
  const char* node;
  const char* service;
  int flags, family, socktype;
};
const query queries[] = {
    {"localhost", nullptr, 0, AF_UNSPEC, SOCK_STREAM},
    {"localhost", "http", AI_CANONNAME, AF_INET, 0},
    {"127.0.0.1", "8080", AI_NUMERICHOST | AI_NUMERICSERV, AF_UNSPEC, SOCK_DGRAM},
    {"::1", nullptr, AI_NUMERICHOST, AF_INET6, 0},
    {nullptr, "80", AI_PASSIVE, AF_INET, SOCK_STREAM},
    {"not-a-number", nullptr, AI_NUMERICHOST, AF_UNSPEC, 0},        // EAI_NONAME, no lookup
    {"localhost", "no-such-service-xyz", 0, AF_INET, SOCK_STREAM},  // EAI_SERVICE
    {"localhost", nullptr, 0x7fff0000, AF_INET, 0},                 // EAI_BADFLAGS
};

std::vector<std::string> all_answers() {
  std::vector<std::string> answers;
  for (const query& q : queries) {
    addrinfo hints{};
    hints.ai_flags = q.flags;
    hints.ai_family = q.family;
    hints.ai_socktype = q.socktype;
    answers.push_back(getaddrinfo_text(q.node, q.service, &hints));
  }
  answers.push_back(getaddrinfo_text("localhost", nullptr, nullptr));
  answers.push_back(getnameinfo_text("127.0.0.1", 0));
  answers.push_back(getnameinfo_text("127.0.0.1", NI_NUMERICHOST | NI_NUMERICSERV));
  answers.push_back(hostent_text(gethostbyname("localhost")));
  answers.push_back(hostent_text(gethostbyname("127.0.0.1")));
  answers.push_back(hostent_text(gethostbyname2("localhost", AF_INET)));
  in_addr loopback{htonl(INADDR_LOOPBACK)};
  answers.push_back(hostent_text(gethostbyaddr(&loopback, sizeof(loopback), AF_INET)));
  hostent entry{}, *result = nullptr;
  int h_error = 0;
  char buffer[2048];
  int rc = gethostbyname_r("localhost", &entry, buffer, sizeof(buffer), &result, &h_error);
  answers.push_back("rc=" + std::to_string(rc) + " " + hostent_text(result));
  char tiny[8];
  rc = gethostbyname_r("localhost", &entry, tiny, sizeof(tiny), &result, &h_error);
  answers.push_back("tiny rc=" + std::to_string(rc) +
                    " found=" + std::to_string(result != nullptr));
  rc = gethostbyname2_r("localhost", AF_INET, &entry, buffer, sizeof(buffer), &result, &h_error);
  answers.push_back("rc=" + std::to_string(rc) + " " + hostent_text(result));
  rc = gethostbyaddr_r(&loopback, sizeof(loopback), AF_INET, &entry, buffer, sizeof(buffer),
                       &result, &h_error);
  answers.push_back("rc=" + std::to_string(rc) + " " + hostent_text(result));
  return answers;
}

/// Spawns `count` fibers running `lookup` at once; returns the wall time in ms.
double concurrent_ms(int count, const std::function<void()>& lookup) {
  auto start = clock_type::now();
  grove::run([&] {
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < count; ++i) fibers.push_back(grove::spawn(lookup));
    for (auto& f : fibers) f.join();
  });
  return ms_since(start);
}

void check_slow_dns(const slow_dns::outcome& o) {
  if (!o.available) {
    MESSAGE("SKIPPED: no private namespaces for the slow DNS here (" << o.notes << ")");
    return;
  }
  CHECK_MESSAGE(o.failures.empty(), o.failures);
}

}  // namespace

TEST_CASE("lookups in a fiber give exactly libc's answers") {
  std::vector<std::string> outside = all_answers();
  std::vector<std::string> inside = grove::run([] { return all_answers(); });
  REQUIRE(inside.size() == outside.size());
  for (std::size_t i = 0; i < inside.size(); ++i) {
    CAPTURE(i);
    CHECK(inside[i] == outside[i]);
  }
  MESSAGE("e.g. " << inside[0] << " | " << inside[9]);
}

TEST_CASE("each fiber keeps its own gethostbyname buffer across waits") {
  grove::run([] {
    hostent* mine = nullptr;
    grove::event a_has_answer, b_has_answer;
    auto a = grove::spawn([&] {
      mine = gethostbyname("localhost");
      a_has_answer.set();
      REQUIRE(mine);
      b_has_answer.wait();  // another fiber's lookup happens meanwhile, while `a` still lives
      CHECK(std::string(mine->h_name) == "localhost");
    });
    auto b = grove::spawn([&] {
      a_has_answer.wait();
      hostent* other = gethostbyname("127.0.0.1");
      b_has_answer.set();
      REQUIRE(other);
      CHECK(other != mine);
      CHECK(std::string(other->h_name) == "127.0.0.1");
    });
    a.join();
    b.join();
  });
}

TEST_CASE("lookups that each wait 300 ms for the DNS run concurrently in fibers") {
  if (shims_disabled()) return;
  check_slow_dns(slow_dns::run_with_slow_dns(300ms, [] {
    std::string failures;
    auto fail = [&](const std::string& what) { failures += what + "; "; };
    // the delay is real: one lookup outside fibers
    auto start = clock_type::now();
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    std::string expected = getaddrinfo_text("slow.test", "80", &hints);
    double serial = ms_since(start);
    if (serial < 290) fail("a plain lookup took only " + std::to_string(serial) + " ms");
    if (expected.find("127.0.0.2:80") == std::string::npos) fail("outside: " + expected);

    double ms = concurrent_ms(10, [&] {
      std::string got = getaddrinfo_text("slow.test", "80", &hints);
      if (got != expected) fail("getaddrinfo in a fiber: " + got);
    });
    std::fprintf(stderr, "1 plain getaddrinfo (300 ms DNS): %.0f ms; 10 in fibers: %.0f ms\n",
                 serial, ms);
    if (ms >= 450) fail("10 x getaddrinfo took " + std::to_string(ms) + " ms");

    ms = concurrent_ms(10, [&] {
      hostent* h = gethostbyname("slow.test");
      grove::this_fiber::yield();  // the others' answers must not replace ours
      std::string got = hostent_text(h);
      if (got != "slow.test type=2 len=4 aliases: addrs: 127.0.0.2") fail("gethostbyname: " + got);
    });
    if (ms >= 450) fail("10 x gethostbyname took " + std::to_string(ms) + " ms");

    ms = concurrent_ms(10, [&] {
      std::string got = getnameinfo_text("127.0.0.2", NI_NAMEREQD);
      if (got != "rc=0 slow.test http") fail("getnameinfo: " + got);
    });
    if (ms >= 450) fail("10 x getnameinfo took " + std::to_string(ms) + " ms");
    return failures;
  }));
}

TEST_CASE("a kill or a scoped timeout ends a lookup at once with ECANCELED or ETIMEDOUT") {
  if (shims_disabled()) return;
  check_slow_dns(slow_dns::run_with_slow_dns(1000ms, [] {
    std::string failures;
    auto fail = [&](const std::string& what) { failures += what + "; "; };
    grove::run([&] {
      int rc = 0, error = 0;
      addrinfo* list = reinterpret_cast<addrinfo*>(1);
      auto victim = grove::spawn([&] {
        rc = getaddrinfo("slow.test", nullptr, nullptr, &list);
        error = errno;
      });
      grove::this_fiber::sleep_for(50ms);
      auto start = clock_type::now();
      victim.kill();
      victim.join();
      if (ms_since(start) > 100) fail("kill took " + std::to_string(ms_since(start)) + " ms");
      if (rc != EAI_SYSTEM || error != ECANCELED || list != nullptr) {
        fail("killed getaddrinfo: rc=" + std::to_string(rc) + " errno=" + std::to_string(error));
      }
      start = clock_type::now();
      hostent* h = reinterpret_cast<hostent*>(1);
      int h_error = 0;
      error = 0;
      try {
        grove::timeout t(50ms);
        h = gethostbyname("slow.test");
        h_error = h_errno;
        error = errno;
        grove::this_fiber::yield();
        fail("the timeout was not raised at the next grove wait");
      } catch (const grove::timeout_error&) {
      }
      if (ms_since(start) > 150) fail("timeout took " + std::to_string(ms_since(start)) + " ms");
      if (h != nullptr || h_error != NETDB_INTERNAL || error != ETIMEDOUT) {
        fail("timed-out gethostbyname: errno=" + std::to_string(error));
      }
    });
    return failures;
  }));
}

TEST_CASE("GROVE_SHIMS=0 makes lookups in fibers serial") {
  if (!shims_disabled()) return;
  check_slow_dns(slow_dns::run_with_slow_dns(300ms, [] {
    double ms = concurrent_ms(3, [] { getaddrinfo_text("slow.test", nullptr, nullptr); });
    std::fprintf(stderr, "3 fibers x getaddrinfo (300 ms DNS), GROVE_SHIMS=0: %.0f ms\n", ms);
    return ms >= 890 ? std::string() : "took only " + std::to_string(ms) + " ms";
  }));
}
