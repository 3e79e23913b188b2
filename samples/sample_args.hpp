// Command-line helpers shared by the samples (not part of grove's API).
//
// parse_options is the strict parser every sample uses: every option is known, every value is a
// number in range, --help (or -h) prints the usage and exits 0; anything else is one clear line
// on stderr and exit status 2 (samples/check_arguments.sh holds every sample and benchmark to it).
// Example:
//   unsigned long port = 0;
//   bool tour = false;
//   if (int rc = sample::parse_options(argc, argv, usage, {{"--port", &port, 0, 65535}},
//                                      {{"--tour", &tour}});
//       rc >= 0)
//     return rc;
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <variant>

namespace sample {

/// One option with a value, `--name value`: a number from `min` to `max`, a whole one when it
/// lands in an unsigned long.
struct number_option {
  const char* name;
  std::variant<double*, unsigned long*> value;
  double min;
  double max;
};

/// One option without a value (e.g. --tour): sets `*set`.
struct flag_option {
  const char* name;
  bool* set;
};

/// The program's name for its error lines: argv[0] without its directory.
inline const char* program_name(char** argv) {
  const char* slash = std::strrchr(argv[0], '/');
  return slash ? slash + 1 : argv[0];
}

/// Parses argv into `options` and `flags`. Returns -1 to go on, or the exit status main should
/// return: 0 after --help (the usage on stdout), 2 after a bad argument (one line on stderr).
inline int parse_options(int argc, char** argv, const std::string& usage,
                         std::initializer_list<number_option> options,
                         std::initializer_list<flag_option> flags = {}) {
  const char* program = program_name(argv);
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-h") == 0) {
      std::fputs(usage.c_str(), stdout);
      return 0;
    }
    bool known = false;
    for (const auto& f : flags) {
      if (std::strcmp(arg, f.name) == 0) {
        *f.set = true;
        known = true;
      }
    }
    for (const auto& o : options) {
      if (std::strcmp(arg, o.name) != 0) continue;
      known = true;
      if (i + 1 == argc) {
        std::fprintf(stderr, "%s: %s needs a value (try --help)\n", program, o.name);
        return 2;
      }
      const char* text = argv[++i];
      bool whole = std::holds_alternative<unsigned long*>(o.value);
      char* end = nullptr;
      errno = 0;
      double v = std::strtod(text, &end);
      if (end == text || *end != '\0' || errno != 0 || !(v >= o.min && v <= o.max) ||
          (whole && v != std::floor(v))) {
        std::fprintf(stderr, "%s: bad value '%s' for %s (%s from %g to %g; try --help)\n", program,
                     text, o.name, whole ? "a whole number" : "a number", o.min, o.max);
        return 2;
      }
      if (whole) {
        *std::get<unsigned long*>(o.value) = static_cast<unsigned long>(v);
      } else {
        *std::get<double*>(o.value) = v;
      }
    }
    if (!known) {
      std::fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", program, arg);
      return 2;
    }
  }
  return -1;
}

}  // namespace sample
