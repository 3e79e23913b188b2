// Strict command-line parsing for the issue-8 samples (not part of grove's API): every option
// is known, every value is a number in range, --help prints the usage; anything else is one
// clear line on stderr and exit code 2.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>

namespace sample {

/// One numeric option: --name value.
struct number_option {
  const char* name;
  double* value;
  double min;
  double max;
};

/// Parses argv into `options` and `flags` (options without a value, e.g. --tour). Returns -1 to
/// go on, or the exit code main should return (0 after --help, 2 after a bad argument).
inline int parse_args(int argc, char** argv, const char* usage,
                      std::initializer_list<number_option> options,
                      std::initializer_list<std::pair<const char*, bool*>> flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", usage);
      return 0;
    }
    bool known = false;
    for (auto& [name, set] : flags) {
      if (arg == name) {
        *set = true;
        known = true;
      }
    }
    for (const auto& o : options) {
      if (arg != o.name) continue;
      known = true;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value (see --help)\n", argv[0], o.name);
        return 2;
      }
      char* end = nullptr;
      double v = std::strtod(argv[++i], &end);
      if (end == argv[i] || *end != '\0' || !(v >= o.min && v <= o.max)) {
        std::fprintf(stderr, "%s: %s wants a number from %g to %g, not '%s'\n", argv[0], o.name,
                     o.min, o.max, argv[i]);
        return 2;
      }
      *o.value = v;
    }
    if (!known) {
      std::fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", argv[0], arg.c_str());
      return 2;
    }
  }
  return -1;
}

}  // namespace sample
