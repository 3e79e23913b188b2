// grove::dump_fibers: every fiber of the calling thread's hub, read from the wait records the
// one suspension keeps (docs/architecture.md, "Diagnostics"). Runs in a fiber or on the hub's
// own stack (the dump signal), never in a signal handler: it may allocate and read /proc.
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <grove/debug.hpp>
#include <grove/error.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "core/hub_impl.hpp"

namespace grove::detail {
namespace {

const char* state_name(fiber_state s) noexcept {
  switch (s) {
    case fiber_state::created:
      return "not started";
    case fiber_state::ready:
      return "ready";
    case fiber_state::running:
      return "running";
    case fiber_state::suspended:
      return "suspended";
    case fiber_state::finished:
      return "finished";
  }
  return "?";
}

std::string milliseconds_until(time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - clock::now()).count();
  return std::to_string(ms < 0 ? 0 : ms) + " ms";
}

std::string address(std::uintptr_t p) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%" PRIxPTR, p);
  return text;
}

/// What a descriptor is, from /proc: a child's pidfd names the child.
std::string describe_fd(int fd) {
  char link[64];
  char target[256];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, target, sizeof target - 1);
  if (n <= 0) return {};
  target[n] = '\0';
  std::string what = target;
  if (what == "anon_inode:[pidfd]") {
    std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
    for (std::string line; std::getline(info, line);) {
      if (line.rfind("Pid:", 0) == 0)
        return "child pid " + line.substr(line.find_first_not_of(" \t", 4));
    }
    return "a child's pidfd";
  }
  return what;
}

std::string describe_wait(const fiber_base* f) {
  const wait_record& w = stack_top_of(f).wait;
  std::uintptr_t d = w.detail();
  std::string text;
  switch (w.kind()) {
    case wait_kind::unknown:
      text = "a grove wait";
      break;
    case wait_kind::sleep:
      text = "sleep";
      break;
    case wait_kind::join: {
      auto* other = reinterpret_cast<const fiber_base*>(d);
      text = "joining fiber " + std::to_string(other->id) + " '" + std::string(other->name()) + "'";
      break;
    }
    case wait_kind::event:
      text = "event " + address(d);
      break;
    case wait_kind::future:
      text = "future " + address(d);
      break;
    case wait_kind::queue:
      text = "queue " + address(d);
      break;
    case wait_kind::channel:
      text = "channel " + address(d);
      break;
    case wait_kind::mutex:
      text = "mutex " + address(d);
      break;
    case wait_kind::semaphore:
      text = "semaphore " + address(d);
      break;
    case wait_kind::condition:
      text = "condition_variable " + address(d);
      break;
    case wait_kind::group:
      text = "group " + address(d);
      break;
    case wait_kind::wait_any:
      text = "several fibers, events or futures";
      break;
    case wait_kind::select:
      text = "select over channels";
      break;
    case wait_kind::fd_readable:
    case wait_kind::fd_writable: {
      int fd = static_cast<int>(d);
      text = "fd " + std::to_string(fd) +
             (w.kind() == wait_kind::fd_readable ? " readable" : " writable");
      if (std::string what = describe_fd(fd); !what.empty()) text += " (" + what + ")";
      break;
    }
    case wait_kind::fd_poll:
      text = std::to_string(d) + " descriptor waits at once (poll/select/epoll_wait)";
      break;
    case wait_kind::child:
      text = "child pid " + std::to_string(d);
      break;
    case wait_kind::offload:
      text = "offload job " + address(d);
      break;
    case wait_kind::asio:
      text = "an asynchronous operation (Asio, io_uring)";
      break;
    case wait_kind::server:
      text = "server " + address(d);
      break;
    case wait_kind::tls_stream:
      text = "a TLS stream's turn at its socket";
      break;
  }
  if (f->deadline().armed()) {
    text += (w.kind() == wait_kind::sleep ? ", timer in " : ", deadline in ") +
            milliseconds_until(f->deadline().when);
  }
  return text;
}

std::string location(const std::source_location& where) {
  if (where.line() == 0) return "(unknown)";
  std::string text = where.file_name();
  text += ':' + std::to_string(where.line());
  if (*where.function_name()) text += std::string(" in ") + where.function_name();
  return text;
}

// Reads another fiber's stack, where the sanitizer's poison of live frames may sit.
__attribute__((no_sanitize("address"))) std::size_t painted_depth(const char* low,
                                                                  const char* top) noexcept {
  const char* p = low;
  while (p < top && static_cast<unsigned char>(*p) == stack_paint) ++p;
  return static_cast<std::size_t>(top - p);
}

/// Bytes from the top of the stack to its lowest resident page (whole pages).
std::size_t resident_depth(const char* low, std::size_t size) {
  long page = ::sysconf(_SC_PAGESIZE);
  auto start = reinterpret_cast<std::uintptr_t>(low) & ~static_cast<std::uintptr_t>(page - 1);
  auto end = reinterpret_cast<std::uintptr_t>(low) + size;
  std::size_t pages = (end - start + page - 1) / page;
  std::vector<unsigned char> resident(pages);
  if (::mincore(reinterpret_cast<void*>(start), end - start, resident.data()) != 0) return 0;
  for (std::size_t i = 0; i < pages; ++i) {
    if (resident[i] & 1) return end - (start + i * page);
  }
  return 0;
}

std::string stack_use(const hub_impl& h, const fiber_base* f) {
  if (!f->stack_base)
    return "stack " + std::to_string(f->stack_size / 1024) + " KiB, not mapped yet";
  const char* low = static_cast<const char*>(f->stack_base) + stack_pool::guard_bytes;
  std::string text = "stack " + std::to_string(f->stack_size / 1024) + " KiB, high-water ";
  if (h.paints_stacks()) {
    std::size_t used = painted_depth(low, low + f->stack_size - stack_top_reserve);
    return text + std::to_string((used + 1023) / 1024) + " KiB (painted)";
  }
  return text + "<= " + std::to_string(resident_depth(low, f->stack_size) / 1024) +
         " KiB (resident pages; GROVE_STACK_PAINT=1 for the exact mark)";
}

}  // namespace

void dump_hub(hub_impl& h, std::ostream& out) {
  out << "grove: hub of thread " << ::gettid() << ": " << h.live_count() << " fiber(s)\n";
  for (const fiber_base* f = h.live_head(); f; f = f->next_live) {
    out << "  fiber " << f->id << " '" << f->name() << "' " << state_name(f->state);
    if (f->state == fiber_state::suspended) {
      out << ": " << describe_wait(f) << "\n      waits at "
          << location(stack_top_of(f).wait.where);
    } else if (f->state == fiber_state::created && f->deadline().armed()) {
      out << ": starts in " << milliseconds_until(f->deadline().when);
    }
    out << "\n      spawned at " << location(spawn_site(f)) << "\n      " << stack_use(h, f)
        << '\n';
  }
  out.flush();
}

}  // namespace grove::detail

namespace grove {

void dump_fibers(std::ostream& out) {
  detail::hub_impl* h = detail::current_hub();
  if (!h) throw error("grove::dump_fibers: no hub is running on this thread (use grove::run)");
  detail::dump_hub(*h, out);
}

}  // namespace grove
