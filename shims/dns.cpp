// Name resolution: getaddrinfo, getnameinfo, gethostbyname, gethostbyname2, gethostbyaddr and
// their _r forms. glibc's resolver waits inside itself with internal calls (__poll, __connect,
// __recvfrom) that no interposition reaches, so in a fiber each call runs libc's own function on
// the hub's offload pool (grove::offload) while the fiber waits: one pool job per call, no lock
// of ours around them, so lookups proceed concurrently (up to grove::offload_threads() at once).
// Outside fibers each is libc's, untouched.
//
// Identical results: the pool thread runs the very libc function with the caller's arguments.
// Everything it touches is owned by the job (copies of the arguments, its own buffers), never
// the fiber's stack: a fiber killed mid-lookup stops waiting at once while the lookup finishes on
// its thread, and the job frees what it produced (freeaddrinfo). The results are then copied to
// the caller's buffers, pointers rebased for the _r forms.
//
// gethostbyname & co. return a static buffer in glibc (process-wide, not even per thread). A
// fiber must not see another fiber's answer replace its own while it uses it across a wait
// (a connect to h_addr_list[i] in a loop), so in a fiber the buffer is per fiber and per
// function, valid until that fiber's next call of the same function or its end. h_errno is set
// on the fiber's thread.
//
// A kill or scoped timeout: getaddrinfo / getnameinfo return EAI_SYSTEM with errno ECANCELED /
// ETIMEDOUT; gethostby* return nullptr with h_errno NETDB_INTERNAL and that errno; the _r forms
// return that errno. Not covered: the caller thread's own resolver settings (_res changed after
// res_init) do not travel to the pool thread, which reads /etc/resolv.conf itself.
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <grove/fiber_local.hpp>
#include <grove/offload.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shim.hpp"

namespace grove::shims {
namespace {

// Fallbacks while libc cannot be resolved: report a system error (these never run inside dlsym).
int no_getaddrinfo(const char*, const char*, const addrinfo*, addrinfo** res) {
  if (res) *res = nullptr;
  errno = ENOSYS;
  return EAI_SYSTEM;
}
int no_getnameinfo(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int) {
  errno = ENOSYS;
  return EAI_SYSTEM;
}
hostent* no_gethostbyname(const char*) {
  h_errno = NETDB_INTERNAL;
  errno = ENOSYS;
  return nullptr;
}
hostent* no_gethostbyname2(const char*, int) { return no_gethostbyname(nullptr); }
hostent* no_gethostbyaddr(const void*, socklen_t, int) { return no_gethostbyname(nullptr); }
int no_gethostbyname_r(const char*, hostent*, char*, size_t, hostent** result, int* h_errnop) {
  *result = nullptr;
  *h_errnop = NETDB_INTERNAL;
  return ENOSYS;
}
int no_gethostbyname2_r(const char*, int, hostent*, char*, size_t, hostent** result,
                        int* h_errnop) {
  return no_gethostbyname_r(nullptr, nullptr, nullptr, 0, result, h_errnop);
}
int no_gethostbyaddr_r(const void*, socklen_t, int, hostent*, char*, size_t, hostent** result,
                       int* h_errnop) {
  return no_gethostbyname_r(nullptr, nullptr, nullptr, 0, result, h_errnop);
}

constinit real_function<int(const char*, const char*, const addrinfo*, addrinfo**)>
    real_getaddrinfo{"getaddrinfo", &no_getaddrinfo};
constinit real_function<int(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int)>
    real_getnameinfo{"getnameinfo", &no_getnameinfo};
constinit real_function<hostent*(const char*)> real_gethostbyname{"gethostbyname",
                                                                  &no_gethostbyname};
constinit real_function<hostent*(const char*, int)> real_gethostbyname2{"gethostbyname2",
                                                                        &no_gethostbyname2};
constinit real_function<hostent*(const void*, socklen_t, int)> real_gethostbyaddr{
    "gethostbyaddr", &no_gethostbyaddr};
constinit real_function<int(const char*, hostent*, char*, size_t, hostent**, int*)>
    real_gethostbyname_r{"gethostbyname_r", &no_gethostbyname_r};
constinit real_function<int(const char*, int, hostent*, char*, size_t, hostent**, int*)>
    real_gethostbyname2_r{"gethostbyname2_r", &no_gethostbyname2_r};
constinit real_function<int(const void*, socklen_t, int, hostent*, char*, size_t, hostent**, int*)>
    real_gethostbyaddr_r{"gethostbyaddr_r", &no_gethostbyaddr_r};

/// A C string argument, copied for the pool thread (nullptr stays nullptr).
struct string_arg {
  explicit string_arg(const char* s) {
    if (s) value.emplace(s);
  }
  const char* get() const noexcept { return value ? value->c_str() : nullptr; }
  std::optional<std::string> value;
};

/// Runs `fn` on the offload pool and returns its result; on a kill / scoped timeout (or no
/// memory) returns nothing and leaves the errno to report in `error`.
template <class Fn>
auto run_on_pool(Fn&& fn, int& error) noexcept -> std::optional<decltype(fn())> {
  std::optional<decltype(fn())> result;
  error = errno_of([&] { result.emplace(grove::offload(std::forward<Fn>(fn))); });
  return result;
}

struct addrinfo_deleter {
  void operator()(addrinfo* list) const noexcept {
    if (list) freeaddrinfo(list);
  }
};

// --- hostent results -----------------------------------------------------------------------

/// A hostent and the buffer its pointers point into, as a gethost*_r call filled them.
struct hostent_result {
  int rc = 0;          ///< the _r call's return value (an errno value)
  int h_error = 0;     ///< its *h_errnop
  int error = 0;       ///< errno on the pool thread after the call
  bool found = false;  ///< *result was set
  hostent entry{};
  std::vector<char> buffer;
};

/// Calls `lookup(entry, buffer, size, &result, &h_errno)` on the pool thread with a buffer of
/// `size` bytes (fixed: an _r caller's size) or, when `size` is 0, growing on ERANGE as glibc's
/// non-reentrant functions do.
template <class Lookup>
hostent_result hostent_on_pool_thread(Lookup& lookup, std::size_t size) {
  hostent_result r;
  bool grow = size == 0;
  r.buffer.resize(grow ? 1024 : size);
  for (;;) {
    hostent* result = nullptr;
    errno = 0;
    r.rc = lookup(&r.entry, r.buffer.data(), r.buffer.size(), &result, &r.h_error);
    r.error = errno;
    r.found = result != nullptr;
    if (!(grow && r.rc == ERANGE && r.buffer.size() < (1u << 20))) return r;
    r.buffer.resize(r.buffer.size() * 2);
  }
}

/// Moves `from` (pointing into `source`) into `to` pointing into `target` at the same offsets.
template <class T>
T* rebase(T* p, const char* source, std::size_t size, char* target) noexcept {
  auto* bytes = reinterpret_cast<const char*>(p);
  if (!p || bytes < source || bytes >= source + size) return p;
  return reinterpret_cast<T*>(target + (bytes - source));
}

/// Copies a hostent filled by an _r call into the caller's hostent and buffer.
void copy_hostent(const hostent_result& r, hostent* entry, char* buffer, std::size_t size) {
  const char* source = r.buffer.data();
  std::memcpy(buffer, source, size);
  *entry = r.entry;
  entry->h_name = rebase(entry->h_name, source, size, buffer);
  entry->h_aliases = rebase(entry->h_aliases, source, size, buffer);
  entry->h_addr_list = rebase(entry->h_addr_list, source, size, buffer);
  for (char** p = entry->h_aliases; p && *p; ++p) *p = rebase(*p, source, size, buffer);
  for (char** p = entry->h_addr_list; p && *p; ++p) *p = rebase(*p, source, size, buffer);
}

/// The per-fiber static buffer of gethostbyname / gethostbyname2 / gethostbyaddr.
struct hostent_slot {
  std::optional<hostent_result> value;
};

/// In a fiber: runs a gethost*_r lookup on the pool and keeps its result in `slot`, the way
/// gethostbyname keeps it in its static buffer.
template <class Lookup>
hostent* static_hostent_in_fiber(Lookup lookup, grove::fiber_local<hostent_slot>& slot) noexcept {
  int error = 0;
  auto r = run_on_pool([lookup]() mutable { return hostent_on_pool_thread(lookup, 0); }, error);
  if (!r) {
    h_errno = NETDB_INTERNAL;
    errno = error;
    return nullptr;
  }
  h_errno = r->h_error;
  if (!r->found) {
    errno = r->rc != 0 ? r->rc : r->error;
    return nullptr;
  }
  hostent_slot* s = nullptr;
  if (errno_of([&] { s = &slot.get(); }) != 0) {  // fiber_local allocates
    h_errno = NETDB_INTERNAL;
    errno = ENOMEM;
    return nullptr;
  }
  s->value = std::move(*r);  // the vector's storage moves: the hostent's pointers stay valid
  return &s->value->entry;
}

/// In a fiber: runs a gethost*_r lookup on the pool with a buffer like the caller's and copies
/// the answer into the caller's.
template <class Lookup>
int reentrant_hostent_in_fiber(Lookup lookup, hostent* entry, char* buffer, std::size_t size,
                               hostent** result, int* h_errnop) noexcept {
  *result = nullptr;
  int error = 0;
  auto r =
      run_on_pool([lookup, size]() mutable { return hostent_on_pool_thread(lookup, size); }, error);
  if (!r) {
    *h_errnop = NETDB_INTERNAL;
    return error;
  }
  *h_errnop = r->h_error;
  if (r->found) {
    copy_hostent(*r, entry, buffer, size);
    *result = entry;
  }
  errno = r->error;
  return r->rc;
}

grove::fiber_local<hostent_slot>& gethostbyname_slot() {
  static grove::fiber_local<hostent_slot> slot;
  return slot;
}
grove::fiber_local<hostent_slot>& gethostbyname2_slot() {
  static grove::fiber_local<hostent_slot> slot;
  return slot;
}
grove::fiber_local<hostent_slot>& gethostbyaddr_slot() {
  static grove::fiber_local<hostent_slot> slot;
  return slot;
}

/// A copy of the address argument of gethostbyaddr (callers check it fits a sockaddr_storage).
struct address_arg {
  address_arg(const void* address, socklen_t length) { std::memcpy(bytes, address, length); }
  const void* get() const noexcept { return bytes; }
  unsigned char bytes[sizeof(sockaddr_storage)]{};
};

}  // namespace
}  // namespace grove::shims

using namespace grove::shims;

GROVE_SHIM_EXPORT int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                                  addrinfo** res) {
  if (!cooperating_fiber() || !res) return real_getaddrinfo(node, service, hints, res);
  struct outcome {
    int rc;
    int error;
    std::unique_ptr<addrinfo, addrinfo_deleter> list;  // freed by the job if the fiber left
  };
  std::optional<addrinfo> hints_copy;
  if (hints) {  // POSIX: only these four members may be set in hints
    hints_copy.emplace();
    hints_copy->ai_flags = hints->ai_flags;
    hints_copy->ai_family = hints->ai_family;
    hints_copy->ai_socktype = hints->ai_socktype;
    hints_copy->ai_protocol = hints->ai_protocol;
  }
  int error = 0;
  auto r = run_on_pool(
      [node = string_arg(node), service = string_arg(service), hints_copy] {
        addrinfo* list = nullptr;
        errno = 0;
        int rc =
            real_getaddrinfo(node.get(), service.get(), hints_copy ? &*hints_copy : nullptr, &list);
        return outcome{rc, errno, std::unique_ptr<addrinfo, addrinfo_deleter>(list)};
      },
      error);
  if (!r) {
    *res = nullptr;
    errno = error;
    return EAI_SYSTEM;
  }
  *res = r->list.release();
  errno = r->error;  // as libc's call left it (EAI_SYSTEM says: look at errno)
  return r->rc;
}

GROVE_SHIM_EXPORT int getnameinfo(const sockaddr* address, socklen_t length, char* host,
                                  socklen_t host_length, char* service, socklen_t service_length,
                                  int flags) {
  if (!cooperating_fiber() || !address || length > sizeof(sockaddr_storage)) {
    return real_getnameinfo(address, length, host, host_length, service, service_length, flags);
  }
  struct outcome {
    int rc;
    int error;
    std::vector<char> host, service;
  };
  sockaddr_storage copy{};
  std::memcpy(&copy, address, length);
  bool want_host = host != nullptr, want_service = service != nullptr;
  int error = 0;
  auto r = run_on_pool(
      [copy, length, want_host, want_service, host_length, service_length, flags] {
        outcome o{0, 0, std::vector<char>(want_host ? host_length : 0),
                  std::vector<char>(want_service ? service_length : 0)};
        errno = 0;
        o.rc = real_getnameinfo(reinterpret_cast<const sockaddr*>(&copy), length,
                                want_host ? o.host.data() : nullptr, host_length,
                                want_service ? o.service.data() : nullptr, service_length, flags);
        o.error = errno;
        return o;
      },
      error);
  if (!r) {
    errno = error;
    return EAI_SYSTEM;
  }
  if (want_host && host_length > 0) std::memcpy(host, r->host.data(), host_length);
  if (want_service && service_length > 0) std::memcpy(service, r->service.data(), service_length);
  errno = r->error;
  return r->rc;
}

GROVE_SHIM_EXPORT hostent* gethostbyname(const char* name) {
  if (!cooperating_fiber() || !name) return real_gethostbyname(name);
  return static_hostent_in_fiber(
      [name = string_arg(name)](hostent* e, char* b, size_t n, hostent** r, int* h) {
        return real_gethostbyname_r(name.get(), e, b, n, r, h);
      },
      gethostbyname_slot());
}

GROVE_SHIM_EXPORT hostent* gethostbyname2(const char* name, int family) {
  if (!cooperating_fiber() || !name) return real_gethostbyname2(name, family);
  return static_hostent_in_fiber(
      [name = string_arg(name), family](hostent* e, char* b, size_t n, hostent** r, int* h) {
        return real_gethostbyname2_r(name.get(), family, e, b, n, r, h);
      },
      gethostbyname2_slot());
}

GROVE_SHIM_EXPORT hostent* gethostbyaddr(const void* address, socklen_t length, int type) {
  if (!cooperating_fiber() || !address || length > sizeof(sockaddr_storage)) {
    return real_gethostbyaddr(address, length, type);
  }
  return static_hostent_in_fiber(
      [copy = address_arg(address, length), length, type](hostent* e, char* b, size_t n,
                                                          hostent** r, int* h) {
        return real_gethostbyaddr_r(copy.get(), length, type, e, b, n, r, h);
      },
      gethostbyaddr_slot());
}

GROVE_SHIM_EXPORT int gethostbyname_r(const char* name, hostent* entry, char* buffer, size_t size,
                                      hostent** result, int* h_errnop) {
  if (!cooperating_fiber() || !name || !entry || !buffer || !result || !h_errnop) {
    return real_gethostbyname_r(name, entry, buffer, size, result, h_errnop);
  }
  return reentrant_hostent_in_fiber(
      [name = string_arg(name)](hostent* e, char* b, size_t n, hostent** r, int* h) {
        return real_gethostbyname_r(name.get(), e, b, n, r, h);
      },
      entry, buffer, size, result, h_errnop);
}

GROVE_SHIM_EXPORT int gethostbyname2_r(const char* name, int family, hostent* entry, char* buffer,
                                       size_t size, hostent** result, int* h_errnop) {
  if (!cooperating_fiber() || !name || !entry || !buffer || !result || !h_errnop) {
    return real_gethostbyname2_r(name, family, entry, buffer, size, result, h_errnop);
  }
  return reentrant_hostent_in_fiber(
      [name = string_arg(name), family](hostent* e, char* b, size_t n, hostent** r, int* h) {
        return real_gethostbyname2_r(name.get(), family, e, b, n, r, h);
      },
      entry, buffer, size, result, h_errnop);
}

GROVE_SHIM_EXPORT int gethostbyaddr_r(const void* address, socklen_t length, int type,
                                      hostent* entry, char* buffer, size_t size, hostent** result,
                                      int* h_errnop) {
  if (!cooperating_fiber() || !address || length > sizeof(sockaddr_storage) || !entry || !buffer ||
      !result || !h_errnop) {
    return real_gethostbyaddr_r(address, length, type, entry, buffer, size, result, h_errnop);
  }
  return reentrant_hostent_in_fiber(
      [copy = address_arg(address, length), length, type](hostent* e, char* b, size_t n,
                                                          hostent** r, int* h) {
        return real_gethostbyaddr_r(copy.get(), length, type, e, b, n, r, h);
      },
      entry, buffer, size, result, h_errnop);
}
