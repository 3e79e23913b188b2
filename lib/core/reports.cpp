// What grove says on stderr when something goes wrong beyond an exception: one line each, with
// the fiber's id and name, and no allocation but the demangler's (these run in noexcept paths).
#include <cstdio>
#include <cstdlib>
#include <cxxabi.h>
#include <exception>
#include <typeinfo>

#include "core/hub_impl.hpp"

namespace grove::detail {

void report_unhandled(const fiber_base* f) noexcept {
  // No allocation but the demangler's, which may fail (then the mangled name is printed).
  auto id = static_cast<unsigned long long>(f->id);
  try {
    std::rethrow_exception(f->error);
  } catch (const std::exception& e) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::fprintf(stderr, "grove: fiber %llu '%s' died with an unhandled exception: %s: %s\n", id,
                 f->name_c_str(), status == 0 && name ? name : typeid(e).name(), e.what());
    std::free(name);
  } catch (...) {
    std::fprintf(stderr,
                 "grove: fiber %llu '%s' died with an unhandled exception: an exception not "
                 "derived from std::exception\n",
                 id, f->name_c_str());
  }
}

void report_callback_exception() noexcept {
  std::fprintf(stderr, "grove: a hub callback threw; the exception is dropped\n");
}

void report_abandoned(std::size_t count) noexcept {
  std::fprintf(stderr,
               "grove: %zu fiber(s) still waiting when grove::run ended could not be unwound "
               "(nothing can wake them); they are abandoned, their destructors never run:\n",
               count);
}

void report_abandoned_fiber(const fiber_base* f) noexcept {
  std::fprintf(stderr, "grove:   fiber %llu '%s'\n", static_cast<unsigned long long>(f->id),
               f->name_c_str());
}

// A clear message beats a silent hang: the fiber can never continue.
void abort_deadlocked_shielded_wait(const fiber_base* self) noexcept {
  std::fprintf(stderr,
               "grove: deadlock: every fiber is waiting and nothing can wake them, and fiber %llu "
               "'%s' waits where it cannot throw (unwinding, grove::shield or an "
               "uninterruptible wait); aborting\n",
               static_cast<unsigned long long>(self->id), self->name_c_str());
  std::abort();
}

}  // namespace grove::detail
