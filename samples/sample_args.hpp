// Tiny command-line helpers shared by the samples (not part of grove's API).
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

namespace sample {

/// The value after `--name` in argv as a double, or `fallback`.
inline double option(int argc, char** argv, const char* name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtod(argv[i + 1], nullptr);
  }
  return fallback;
}

/// True if `--name` is present.
inline bool flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return true;
  }
  return false;
}

}  // namespace sample
