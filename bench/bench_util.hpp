// Shared helpers for grove's benchmarks: timing and /proc readings. Each benchmark prints one
// line of `key=value` tokens (see run_bench.sh).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline double ns_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count();
}

/// A "Vm...:" field of /proc/self/status, in KiB.
inline long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  std::size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return -1;
}

/// argv[i] as a number, or `fallback`.
inline long arg_or(int argc, char** argv, int i, long fallback) {
  return argc > i ? std::strtol(argv[i], nullptr, 10) : fallback;
}

/// The median of `v`.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

/// The two knobs of an interleaved A/B micro-benchmark (interleave below).
struct rounds_calls {
  int rounds;
  long calls;
};

/// Parses `[--rounds N] [--calls N]` into `knobs` (which holds the defaults). Returns -1 to go on,
/// or the exit status main should return: 0 after --help (`usage` on stdout), 2 after a bad
/// argument (one line on stderr).
inline int parse_rounds_calls(int argc, char** argv, const char* program, const char* usage,
                              rounds_calls& knobs) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help") {
      std::puts(usage);
      return 0;
    } else if ((a == "--rounds" || a == "--calls") && i + 1 < argc) {
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || end == argv[i] || v < 1 || v > 1000000000) {
        std::fprintf(stderr, "%s: %s wants a positive whole number, not '%s'\n", program,
                     a.c_str(), argv[i]);
        return 2;
      }
      if (a == "--rounds") {
        knobs.rounds = static_cast<int>(v);
      } else {
        knobs.calls = v;
      }
    } else {
      std::fprintf(stderr, "%s: bad argument '%s' (try --help)\n", program, argv[i]);
      return 2;
    }
  }
  return -1;
}

/// What interleave measured: each side's ns per call, one a round.
struct ab_rounds {
  std::vector<double> a, b;
  double median_a() const { return median(a); }
  double median_b() const { return median(b); }
  double min_a() const { return *std::min_element(a.begin(), a.end()); }
  double min_b() const { return *std::min_element(b.begin(), b.end()); }
  /// The median of the per-round differences a - b.
  double median_difference() const {
    std::vector<double> d(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
    return median(d);
  }
};

/// Times `a(calls)` against `b(calls)` (each returns ns per call) in `rounds` interleaved rounds,
/// alternating which goes first so that drift (frequency, other tenants) touches both, after one
/// warm-up of a tenth of `calls` each (symbol resolution, page faults).
template <class A, class B>
ab_rounds interleave(const rounds_calls& knobs, A a, B b) {
  a(knobs.calls / 10 + 1);
  b(knobs.calls / 10 + 1);
  ab_rounds r;
  for (int i = 0; i < knobs.rounds; ++i) {
    bool a_first = i % 2 == 0;
    double x = a_first ? a(knobs.calls) : 0;
    double y = b(knobs.calls);
    if (!a_first) x = a(knobs.calls);
    r.a.push_back(x);
    r.b.push_back(y);
  }
  return r;
}

}  // namespace bench
