// The descriptor table's facts: one record per open file description, found by descriptor
// number. Process-wide (see fd_table.hpp for why): readers take no lock (a chunked array of
// atomic pointers); creating, duplicating and forgetting descriptors take one mutex. Records are
// pooled and never freed, so a reader racing a close reads a stale record, never freed memory.
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <grove/detail/deadline.hpp>
#include <grove/detail/fd_table.hpp>
#include <mutex>
#include <new>

#include "core/fd_table_impl.hpp"
#include "core/hub_impl.hpp"
#include "core/sys.hpp"

namespace grove::detail {
namespace {

enum : std::uint32_t {
  user_nonblock_bit = 1,   ///< the user set O_NONBLOCK
  grove_nonblock_bit = 2,  ///< grove set the kernel's O_NONBLOCK and relies on it
  not_pollable_bit = 4,    ///< not a socket or pipe
  kind_known_bit = 8,      ///< not_pollable_bit and byte_stream_bit are known
  byte_stream_bit = 16,    ///< a stream socket or a pipe
};

/// One open file description as grove knows it.
struct description {
  std::atomic<std::uint32_t> flags{0};
  std::atomic<std::int64_t> receive_timeout_ns{0};
  std::atomic<std::int64_t> send_timeout_ns{0};
  std::uint32_t refs = 0;  ///< descriptors sharing it (under table_mutex)
  description* next_free = nullptr;
};

struct slot {
  std::atomic<description*> desc{nullptr};
  std::atomic<std::uint32_t> generation{0};
};

constexpr int chunk_bits = 12;
constexpr int chunk_size = 1 << chunk_bits;
constexpr int max_chunks = 256;  // descriptors below 1M are tracked; the rest are libc's alone

std::atomic<slot*> g_chunks[max_chunks];
std::mutex g_table_mutex;
description* g_free = nullptr;  // under g_table_mutex

slot* find_slot(int fd) noexcept {
  if (fd < 0 || fd >= chunk_size * max_chunks) return nullptr;
  slot* chunk = g_chunks[fd >> chunk_bits].load(std::memory_order_acquire);
  return chunk ? &chunk[fd & (chunk_size - 1)] : nullptr;
}

/// The slot of `fd`, its chunk made if needed. Call with g_table_mutex held.
slot* make_slot(int fd) noexcept {
  if (slot* s = find_slot(fd)) return s;
  if (fd < 0 || fd >= chunk_size * max_chunks) return nullptr;
  slot* chunk = new (std::nothrow) slot[chunk_size];
  if (!chunk) return nullptr;
  g_chunks[fd >> chunk_bits].store(chunk, std::memory_order_release);
  return &chunk[fd & (chunk_size - 1)];
}

/// A fresh record holding one reference. Call with g_table_mutex held.
description* new_description(std::uint32_t flags) noexcept {
  description* d = g_free;
  if (d) {
    g_free = d->next_free;
  } else {
    d = new (std::nothrow) description;
    if (!d) return nullptr;
  }
  d->flags.store(flags, std::memory_order_relaxed);
  d->receive_timeout_ns.store(0, std::memory_order_relaxed);
  d->send_timeout_ns.store(0, std::memory_order_relaxed);
  d->refs = 1;
  d->next_free = nullptr;
  return d;
}

/// Drops one reference. Call with g_table_mutex held.
void unref(description* d) noexcept {
  if (d && --d->refs == 0) {
    d->next_free = g_free;
    g_free = d;
  }
}

/// Points `s` at `d` (already referenced for it) and starts a new generation of the number.
void replace(slot* s, description* d) noexcept {
  unref(s->desc.exchange(d, std::memory_order_acq_rel));
  s->generation.fetch_add(1, std::memory_order_release);
}

description* description_of(int fd) noexcept {
  slot* s = find_slot(fd);
  return s ? s->desc.load(std::memory_order_acquire) : nullptr;
}

/// The record of `fd`, made (with `flags`) if grove has none: a descriptor grove learns about
/// only now (created by a call it does not see). Same generation: it is the same descriptor.
description* learn(int fd, std::uint32_t flags) noexcept {
  std::lock_guard lock(g_table_mutex);
  slot* s = make_slot(fd);
  if (!s) return nullptr;
  if (description* d = s->desc.load(std::memory_order_acquire)) return d;
  description* d = new_description(flags);
  s->desc.store(d, std::memory_order_release);
  return d;
}

std::chrono::nanoseconds timeout_of(const std::atomic<std::int64_t>& ns) noexcept {
  return std::chrono::nanoseconds(ns.load(std::memory_order_relaxed));
}

}  // namespace

std::atomic<bool> internal_nonblock_seen{false};

fd_facts fd_lookup(int fd) noexcept {
  fd_facts facts;
  description* d = description_of(fd);
  if (!d) return facts;
  std::uint32_t flags = d->flags.load(std::memory_order_acquire);
  facts.known = true;
  facts.user_nonblock = flags & user_nonblock_bit;
  facts.grove_nonblock = flags & grove_nonblock_bit;
  facts.internal_nonblock = (flags & grove_nonblock_bit) && !(flags & user_nonblock_bit);
  facts.not_pollable = flags & not_pollable_bit;
  facts.byte_stream = flags & byte_stream_bit;
  facts.receive_timeout = timeout_of(d->receive_timeout_ns);
  facts.send_timeout = timeout_of(d->send_timeout_ns);
  return facts;
}

std::uint32_t fd_generation(int fd) noexcept {
  slot* s = find_slot(fd);
  return s ? s->generation.load(std::memory_order_acquire) : 0;
}

void fd_adopt(int fd, bool user_nonblock, bool internal_nonblock) noexcept {
  std::uint32_t flags =
      (user_nonblock ? user_nonblock_bit : 0u) | (internal_nonblock ? grove_nonblock_bit : 0u);
  if (internal_nonblock) internal_nonblock_seen.store(true, std::memory_order_relaxed);
  std::lock_guard lock(g_table_mutex);
  if (slot* s = make_slot(fd)) replace(s, new_description(flags));
}

void fd_duplicate(int from, int to) noexcept {
  if (from == to) return;
  std::lock_guard lock(g_table_mutex);
  slot* target = make_slot(to);
  if (!target) return;
  description* d = description_of(from);
  if (d) ++d->refs;
  replace(target, d);
}

bool fd_set_user_nonblock(int fd, bool on) noexcept {
  description* d = description_of(fd);
  if (!d) d = learn(fd, 0);
  if (!d) return false;
  if (on) {
    d->flags.fetch_or(user_nonblock_bit, std::memory_order_acq_rel);
    return true;
  }
  std::uint32_t old = d->flags.fetch_and(~user_nonblock_bit, std::memory_order_acq_rel);
  return old & grove_nonblock_bit;
}

void fd_set_timeout(int fd, io_direction dir, std::chrono::nanoseconds timeout) noexcept {
  description* d = description_of(fd);
  if (!d) d = learn(fd, 0);
  if (!d) return;
  auto& field = dir == io_direction::read ? d->receive_timeout_ns : d->send_timeout_ns;
  field.store(timeout.count() > 0 ? timeout.count() : 0, std::memory_order_relaxed);
}

time_point fd_deadline(int fd, io_direction dir) noexcept {
  description* d = description_of(fd);
  if (!d) return no_deadline;
  auto timeout = timeout_of(dir == io_direction::read ? d->receive_timeout_ns : d->send_timeout_ns);
  return timeout.count() > 0 ? deadline_after(timeout) : no_deadline;
}

void fd_closing(int fd) noexcept {
  slot* s = find_slot(fd);
  description* d = s ? s->desc.load(std::memory_order_acquire) : nullptr;
  if (!d) {
    // Nothing known but perhaps a registration (a poll on it): a new generation retires it.
    drop_registration(fd, true);
    if (s) s->generation.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  std::lock_guard lock(g_table_mutex);
  // Another descriptor sharing the file keeps it open, and epoll's registration with it.
  drop_registration(fd, d->refs <= 1);
  replace(s, nullptr);
}

void fd_track(int fd) noexcept {
  if (find_slot(fd)) return;
  std::lock_guard lock(g_table_mutex);
  make_slot(fd);
}

fd_state* fd_cooperative(int fd) noexcept {
  if (!current_fiber()) return nullptr;
  description* d = description_of(fd);
  std::uint32_t flags = d ? d->flags.load(std::memory_order_acquire) : 0;
  if (flags & (user_nonblock_bit | not_pollable_bit)) return nullptr;
  if (flags & grove_nonblock_bit) {
    if (fd_state* s = registered_state(fd)) return s;  // the fast path: one lookup each
  }
  // First cooperative call on this descriptor (in this hub): learn what the kernel says.
  int kernel_flags = sys::fcntl(fd, F_GETFL);
  if (kernel_flags < 0) return nullptr;  // not open: libc reports EBADF
  if (!d) {
    // Unknown to grove: a kernel O_NONBLOCK was set by the user (or a library) unseen.
    d = learn(fd, (kernel_flags & O_NONBLOCK) ? user_nonblock_bit : 0u);
    if (!d) return nullptr;
  }
  flags = d->flags.load(std::memory_order_acquire);
  if (!(flags & kind_known_bit)) {
    struct ::stat st;
    if (sys::fstat(fd, &st) != 0) return nullptr;
    std::uint32_t kind = kind_known_bit;
    if (S_ISSOCK(st.st_mode)) {
      int type = 0;
      ::socklen_t length = sizeof type;
      if (sys::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_STREAM) {
        kind |= byte_stream_bit;
      }
    } else if (S_ISFIFO(st.st_mode)) {
      kind |= byte_stream_bit;
    } else {
      kind |= not_pollable_bit;
    }
    flags = d->flags.fetch_or(kind, std::memory_order_acq_rel) | kind;
  }
  if (flags & (user_nonblock_bit | not_pollable_bit)) return nullptr;
  int error = 0;
  fd_state* s = register_descriptor(fd, error);
  if (!s) return nullptr;
  if (!(kernel_flags & O_NONBLOCK) && sys::fcntl(fd, F_SETFL, kernel_flags | O_NONBLOCK) != 0) {
    return nullptr;
  }
  internal_nonblock_seen.store(true, std::memory_order_relaxed);
  d->flags.fetch_or(grove_nonblock_bit, std::memory_order_acq_rel);
  return s;
}

}  // namespace grove::detail
