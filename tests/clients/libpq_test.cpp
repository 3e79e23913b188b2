// The shims with libpq (Debian's libpq5, unmodified) against a real PostgreSQL on 127.0.0.1 (a
// throw-away cluster started by scripts/test_services.sh): fifty fibers, each on its own
// connection running `SELECT pg_sleep(0.2)`, take about 0.2 s together (and the serial time
// with GROVE_SHIMS=0); a kill or an expired scoped grove::timeout gets control back out of
// PQexec with an error, and PQfinish still works.
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/timeout.hpp>
#include <memory>
#include <string>
#include <vector>

#include "client_fixture.hpp"

using namespace std::chrono_literals;
using grove_test::clock_type;
using grove_test::seconds_since;

namespace {

struct connection_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using pg_connection = std::unique_ptr<PGconn, connection_deleter>;

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using pg_result = std::unique_ptr<PGresult, result_deleter>;

/// A blocking connection to the test cluster, as any program opens one.
pg_connection connect_pg() {
  pg_connection c(PQconnectdb(grove_test::required_env("GROVE_TEST_PG").c_str()));
  REQUIRE(c != nullptr);
  INFO("PQconnectdb: " << PQerrorMessage(c.get()));
  REQUIRE(PQstatus(c.get()) == CONNECTION_OK);
  return c;
}

/// `count` fibers, each on its own connection (made first, concurrently), then one
/// `SELECT pg_sleep(0.2)` each; the seconds the queries took together.
double sleep_queries_in_fibers(int count) {
  return grove::run([&] {
    std::vector<grove::fiber<pg_connection>> connecting;
    for (int i = 0; i < count; ++i) connecting.push_back(grove::spawn(connect_pg));
    std::vector<pg_connection> connections;
    for (auto& f : connecting) connections.push_back(f.get());

    auto start = clock_type::now();
    std::vector<grove::fiber<bool>> queries;
    for (auto& c : connections) {
      queries.push_back(grove::spawn([&c] {
        pg_result r(PQexec(c.get(), "SELECT pg_sleep(0.2)"));
        return PQresultStatus(r.get()) == PGRES_TUPLES_OK;
      }));
    }
    int ok = 0;
    for (auto& q : queries) ok += q.get() ? 1 : 0;
    double took = seconds_since(start);
    CHECK(ok == count);
    return took;
  });
}

}  // namespace

TEST_CASE("fifty fibers running SELECT pg_sleep(0.2) take about 0.2 s together, not 10 s") {
  double concurrent = sleep_queries_in_fibers(50);
  grove_test::compare_with_serial("libpq", "x SELECT pg_sleep(0.2)", concurrent,
                                  "serial child: ten pg_sleep queries", 2.0);
}

TEST_CASE("serial child: ten pg_sleep queries" * doctest::skip()) {
  grove_test::report_serial_seconds(sleep_queries_in_fibers(10));
}

namespace {

/// What happened to a query interrupted by a kill or a scoped timeout.
struct interrupted_query : grove_test::interruption {
  bool returned = false;  // PQexec returned
  bool failed = false;    // ... without rows
  std::string error;      // PQerrorMessage
  bool finished = false;  // PQfinish ran
};

/// `SELECT pg_sleep(5)` on a fresh connection (made before `start`); records what PQexec did.
void long_query(interrupted_query& out, pg_connection c, clock_type::time_point start) {
  pg_result r(PQexec(c.get(), "SELECT pg_sleep(5)"));
  out.call_seconds = seconds_since(start);
  out.returned = true;
  out.failed = PQresultStatus(r.get()) != PGRES_TUPLES_OK;
  out.error = PQerrorMessage(c.get());
  while (!out.error.empty() && out.error.back() == '\n') out.error.pop_back();
  r.reset();
  c.reset();  // PQfinish (the test cluster's backends notice a closed client within 100 ms)
  out.finished = true;
}

}  // namespace

TEST_CASE("a fiber killed inside PQexec gets control back at once with an error") {
  interrupted_query out;
  // The connection is made first, in the main fiber: the times count from the query.
  auto connect_then_query = [&] {
    return [&out, c = std::make_shared<pg_connection>(connect_pg())](clock_type::time_point start) {
      long_query(out, std::move(*c), start);
    };
  };
  grove_test::kill_during_call(out, connect_then_query, {});
  MESSAGE("killed PQexec: '" << out.error << "' after " << out.call_seconds << " s");
  CHECK(out.main_slept < 2.0);  // the hub ran other fibers while libpq waited
  CHECK(out.returned);
  CHECK(out.failed);
  CHECK(out.end_seconds < 2.0);  // not the 5 s of pg_sleep
  CHECK(out.cpu_seconds < 0.5);  // nothing spun
  CHECK(out.finished);
  CHECK_FALSE(out.reached_end);
}

TEST_CASE("a scoped grove::timeout expiring inside PQexec makes it fail promptly") {
  interrupted_query out;
  // The connection is made first, in the main fiber: the times count from the query.
  auto connect_then_query = [&] {
    return [&out, c = std::make_shared<pg_connection>(connect_pg())](clock_type::time_point start) {
      long_query(out, std::move(*c), start);
    };
  };
  grove_test::time_out_during_call(out, connect_then_query, {});
  MESSAGE("timed-out PQexec: '" << out.error << "' after " << out.call_seconds << " s");
  CHECK(out.main_slept < 2.0);
  CHECK(out.returned);
  CHECK(out.failed);
  CHECK(out.call_seconds >= 0.15);
  CHECK(out.call_seconds < 2.0);
  CHECK(out.cpu_seconds < 0.5);
  CHECK(out.finished);
  CHECK(out.grove_wait_threw);
  CHECK(out.reached_end);
}
