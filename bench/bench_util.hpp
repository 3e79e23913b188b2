// Shared helpers for grove's benchmarks: timing and /proc readings. Each benchmark prints one
// line of `key=value` tokens (see run_bench.sh).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
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

/// The program's name for its error lines: argv[0] without its directory.
inline const char* program_name(char** argv) {
  const char* slash = std::strrchr(argv[0], '/');
  return slash ? slash + 1 : argv[0];
}

/// One positional argument: a whole number from `min` to `max`, or a word (one of `choices`,
/// written "a|b|c"; any text when null). A variable holds its default until it is given.
struct positional {
  positional(const char* name, long& value, long min, long max)
      : name(name), number(&value), min(min), max(max) {}
  positional(const char* name, std::string& value, const char* choices = nullptr)
      : name(name), word(&value), choices(choices) {}
  const char* name;
  long* number = nullptr;
  std::string* word = nullptr;
  long min = 0, max = 0;
  const char* choices = nullptr;
};

/// True if one of argv[first..] is --help or -h.
inline bool asks_for_help(int argc, char** argv, int first = 1) {
  for (int i = first; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  }
  return false;
}

/// Parses argv[first..] into `args`, in order; the first `required` of them must be given.
/// Returns -1 to go on, or the exit status main should return: 0 after --help or -h (`usage` on
/// stdout), 2 after a bad, missing or extra argument (one line on stderr). Strict so that a
/// typo never runs a benchmark with a number read as 0 (spawn_bench --help once printed nan).
inline int parse_positional(int argc, char** argv, const char* usage,
                            std::initializer_list<positional> args, std::size_t required = 0,
                            int first = 1) {
  const char* program = program_name(argv);
  if (asks_for_help(argc, argv, first)) {
    std::puts(usage);
    return 0;
  }
  auto given = static_cast<std::size_t>(argc > first ? argc - first : 0);
  if (given > args.size()) {
    std::fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", program,
                 argv[first + static_cast<int>(args.size())]);
    return 2;
  }
  for (std::size_t i = 0; i < given; ++i) {
    const positional& a = args.begin()[i];
    const char* text = argv[first + static_cast<int>(i)];
    if (a.number) {
      char* end = nullptr;
      errno = 0;
      long v = std::strtol(text, &end, 10);
      if (end == text || *end != '\0' || errno != 0 || v < a.min || v > a.max) {
        std::fprintf(stderr, "%s: %s wants a whole number from %ld to %ld, not '%s' (try --help)\n",
                     program, a.name, a.min, a.max, text);
        return 2;
      }
      *a.number = v;
      continue;
    }
    // A free word (a path) never starts with '-': that is an option this program lacks.
    std::size_t length = std::strlen(text);
    bool allowed = a.choices == nullptr && length > 0 && text[0] != '-';
    for (const char* c = a.choices; c != nullptr && !allowed;) {
      const char* bar = std::strchr(c, '|');
      std::size_t n = bar ? static_cast<std::size_t>(bar - c) : std::strlen(c);
      allowed = n == length && std::strncmp(c, text, n) == 0;
      c = bar ? bar + 1 : nullptr;
    }
    if (!allowed) {
      std::fprintf(stderr, "%s: %s wants %s%s, not '%s' (try --help)\n", program, a.name,
                   a.choices ? "one of " : "a value", a.choices ? a.choices : "", text);
      return 2;
    }
    *a.word = text;
  }
  if (given < required) {
    std::fprintf(stderr, "%s: missing %s (try --help)\n", program, args.begin()[given].name);
    return 2;
  }
  return -1;
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
    if (a == "--help" || a == "-h") {
      std::puts(usage);
      return 0;
    } else if ((a == "--rounds" || a == "--calls") && i + 1 < argc) {
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || end == argv[i] || v < 1 || v > 1000000000) {
        std::fprintf(stderr, "%s: %s wants a positive whole number, not '%s'\n", program, a.c_str(),
                     argv[i]);
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
