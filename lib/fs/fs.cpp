// grove::fs: every file operation is one "op" (openat, pread, pwrite, fdatasync, close) run
// on the hub's offload pool (the default, faster in bench/RESULTS.md) or its io_uring.
//
// io_uring: one ring per hub, a service of the hub's io_context. A fiber prepares one SQE whose
// user_data is a node on its own stack, submits it (a buffered read of cached data completes
// inside io_uring_enter; anything that would block is finished by the kernel's workers), and
// waits on the node's completion. Completions are reaped from the CQ ring (shared memory, no
// syscall) by whoever looks first: the submitting fiber right after submitting, or an Asio wait
// on the ring's descriptor, which the kernel makes readable when a CQE is posted. Asio's reactor
// is edge-triggered and forgets an edge that came while no wait was queued, so the rule is:
// after arming the wait, look at the CQ once more. While no op is outstanding the wait is
// cancelled, so an idle ring never keeps the hub from reporting a deadlock.
//
// The thread pool: each op runs on grove::offload. It writes into the caller's buffer, so the
// caller waits shielded: a kill or a scoped timeout lands after the op, never while a pool
// thread still uses the caller's memory.
#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <grove/detail/completion.hpp>
#include <grove/fiber.hpp>
#include <grove/fs.hpp>
#include <grove/hub.hpp>
#include <grove/offload.hpp>
#include <optional>
#include <utility>

#include "core/sys.hpp"

namespace grove::fs {
namespace {

constexpr std::size_t write_buffer_size = 64 * 1024;
constexpr std::size_t max_transfer = 1 << 30;  // per op; the kernel caps a transfer near 2 GiB
constexpr unsigned ring_entries = 256;

enum class op_kind : std::uint8_t { openat, read, write, datasync, close };

/// One file operation and its arguments.
struct op {
  op_kind kind;
  int fd = -1;
  void* data = nullptr;
  std::size_t size = 0;
  std::uint64_t offset = 0;
  const char* path = nullptr;
  int flags = 0;
  mode_t mode = 0;
};

/// Runs `o` with plain syscalls (on a pool thread): the result, or -errno.
long run_blocking(const op& o) noexcept {
  long r = -1;
  for (;;) {
    switch (o.kind) {
      case op_kind::openat:
        r = ::syscall(SYS_openat, AT_FDCWD, o.path, o.flags, o.mode);
        break;
      case op_kind::read:
        r = ::syscall(SYS_pread64, o.fd, o.data, o.size, o.offset);
        break;
      case op_kind::write:
        // pwrite ignores the offset of an O_APPEND file and appends, as io_uring does.
        r = ::syscall(SYS_pwrite64, o.fd, o.data, o.size, o.offset);
        break;
      case op_kind::datasync:
        r = ::syscall(SYS_fdatasync, o.fd);
        break;
      case op_kind::close:
        return ::syscall(SYS_close, o.fd) < 0 ? -errno : 0;  // never retried: the fd is gone
    }
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

/// The current hub's ring and backend choice.
class fs_service final : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;

  explicit fs_service(boost::asio::execution_context& context)
      : service(context), io_(static_cast<boost::asio::io_context&>(context)) {}

  ~fs_service() override {
    shutdown();
    if (ring_ok_) io_uring_queue_exit(&ring_);
  }

  void shutdown() override {
    // Every fiber has ended, so no op is outstanding; a queued wait is destroyed unrun.
    if (watcher_) {
      watcher_->release();  // the ring's descriptor is io_uring_queue_exit's to close
      watcher_.reset();
    }
  }

  backend chosen() const noexcept { return chosen_; }
  /// Sets the ring up the first time it is asked for; true if the kernel allows it.
  bool ring_ok() {
    if (ring_tried_) return ring_ok_;
    ring_tried_ = true;
    io_uring_params params{};
    int rc = io_uring_queue_init_params(ring_entries, &ring_, &params);
    if (rc != 0) {
      ring_error_ = -rc;
      return false;
    }
    ring_ok_ = true;
    watcher_.emplace(io_, ring_.ring_fd);
    return true;
  }
  void choose(backend b) {
    if (b == backend::io_uring && !ring_ok()) {
      throw fs_error("grove::fs::set_backend(io_uring): this kernel refuses io_uring",
                     std::error_code(ring_error_, std::system_category()));
    }
    chosen_ = b;
  }

  /// Runs `o` on the chosen backend and waits for it: the result, or -errno.
  long run(const op& o) {
    // A loop of file ops must still let other fibers run and a kill or timeout land: an op
    // that completes without suspending (cached data, read inside io_uring_enter), or one that
    // waits shielded (the pool), would otherwise leave the fiber no point to be interrupted at.
    // So an op starts with a yield when this fiber's last op did not suspend interruptibly;
    // the yield comes first, never after an op, so a finished op always returns its result.
    if (chosen_ == backend::io_uring) {
      if (std::exchange(inline_fiber_, nullptr) == detail::current_fiber()) this_fiber::yield();
      return run_on_ring(o);
    }
    this_fiber::yield();
    this_fiber::shield shield;  // the pool thread uses our buffer until the op is done
    return grove::offload([o] { return run_blocking(o); });
  }

 private:
  struct node {
    detail::completion done;
    int result = 0;
  };

  long run_on_ring(const op& o) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {  // never expected (each op is submitted at once); the kernel may hold entries
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
      if (!sqe) return -EAGAIN;
    }
    switch (o.kind) {
      case op_kind::openat:
        io_uring_prep_openat(sqe, AT_FDCWD, o.path, o.flags, o.mode);
        break;
      case op_kind::read:
        io_uring_prep_read(sqe, o.fd, o.data, static_cast<unsigned>(o.size), o.offset);
        break;
      case op_kind::write:
        io_uring_prep_write(sqe, o.fd, o.data, static_cast<unsigned>(o.size), o.offset);
        break;
      case op_kind::datasync:
        io_uring_prep_fsync(sqe, o.fd, IORING_FSYNC_DATASYNC);
        break;
      case op_kind::close:
        io_uring_prep_close(sqe, o.fd);
        break;
    }
    node n;
    io_uring_sqe_set_data(sqe, &n);
    int submitted;
    while ((submitted = io_uring_submit(&ring_)) == -EINTR) {
    }
    if (submitted < 0) return submitted;  // the SQE was not consumed; nothing refers to n
    ++outstanding_;
    reap();
    if (n.done.done) {
      inline_fiber_ = detail::current_fiber();  // it did not suspend: see run()
      return n.result;
    }
    arm();
    // File ops end by themselves (milliseconds): on a kill or timeout wait for the CQE, which
    // refers to this frame, and let the interruption land at the next wait.
    detail::await_completion(n.done, detail::no_deadline, [] {});
    return n.result;
  }

  void reap() noexcept {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      auto* n = static_cast<node*>(io_uring_cqe_get_data(cqe));
      n->result = cqe->res;
      n->done.complete();
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    outstanding_ -= seen;
    if (outstanding_ == 0 && armed_) watcher_->cancel();  // idle: let the hub sleep freely
  }

  void arm() {
    if (armed_ || outstanding_ == 0) return;
    armed_ = true;
    watcher_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code&) {
                           armed_ = false;
                           reap();
                           arm();
                         });
    reap();  // a CQE posted before the wait was queued raised an edge nobody saw
  }

  boost::asio::io_context& io_;
  io_uring ring_{};
  bool ring_tried_ = false;
  bool ring_ok_ = false;
  int ring_error_ = 0;
  // The pool is the default: on this 2-core VM it read faster than io_uring both from the
  // disk and from the page cache (bench/RESULTS.md), and it never copies data on the hub's
  // thread (io_uring completes a cached read inside io_uring_enter, on the hub).
  backend chosen_ = backend::thread_pool;
  std::optional<boost::asio::posix::stream_descriptor> watcher_;
  bool armed_ = false;
  std::size_t outstanding_ = 0;
  detail::fiber_base* inline_fiber_ = nullptr;  ///< whose last op completed without suspending
};

boost::asio::execution_context::id fs_service::id;

fs_service& service() {
  if (!detail::current_fiber()) {
    throw error("grove::fs waits, and can only be called from a fiber (inside grove::run)");
  }
  return boost::asio::use_service<fs_service>(hub::current().io_context());
}

std::error_code to_error(long result) {
  return {static_cast<int>(-result), std::system_category()};
}

int open_flags(open_mode mode) {
  switch (mode) {
    case open_mode::read:
      return O_RDONLY;
    case open_mode::write:
      return O_WRONLY | O_CREAT | O_TRUNC;
    case open_mode::append:
      return O_WRONLY | O_CREAT | O_APPEND;
    case open_mode::read_write:
      return O_RDWR | O_CREAT;
  }
  return O_RDONLY;
}

int open_file(const std::string& path, int flags, const char* what) {
  op o{op_kind::openat};
  o.path = path.c_str();
  o.flags = flags | O_CLOEXEC;
  o.mode = 0644;
  long fd = service().run(o);
  if (fd < 0) throw fs_error(std::string(what) + " '" + path + "'", to_error(fd));
  return static_cast<int>(fd);
}

long close_file(int fd) {
  op o{op_kind::close};
  o.fd = fd;
  return service().run(o);
}

/// pread until `size` bytes or end of file; returns the count or throws.
std::size_t read_at(int fd, char* data, std::size_t size, std::uint64_t offset,
                    const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    op o{op_kind::read};
    o.fd = fd;
    o.data = data + done;
    o.size = std::min(size - done, max_transfer);
    o.offset = offset + done;
    long n = service().run(o);
    if (n < 0) throw fs_error("grove::fs: reading '" + path + "'", to_error(n));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

void write_at(int fd, const char* data, std::size_t size, std::uint64_t offset,
              const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    op o{op_kind::write};
    o.fd = fd;
    o.data = const_cast<char*>(data + done);
    o.size = std::min(size - done, max_transfer);
    o.offset = offset + done;
    long n = service().run(o);
    if (n < 0) throw fs_error("grove::fs: writing '" + path + "'", to_error(n));
    if (n == 0)
      throw fs_error("grove::fs: writing '" + path + "'",
                     std::make_error_code(std::errc::no_space_on_device));
    done += static_cast<std::size_t>(n);
  }
}

/// Closes `fd` on scope exit unless released (read_file / write_file on an error path).
struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) detail::sys::close(fd);  // an error path: no need to wait cooperatively
  }
};

}  // namespace

fs_error::fs_error(const std::string& what, std::error_code ec)
    : error(what + ": " + ec.message()), code_(ec) {}

backend current_backend() { return service().chosen(); }
void set_backend(backend b) { service().choose(b); }
bool io_uring_available() { return service().ring_ok(); }

std::string read_file(const std::string& path) {
  int fd = open_file(path, O_RDONLY, "grove::fs::read_file: opening");
  fd_closer guard{fd};
  struct stat st {};
  // fstat of an open descriptor reads the in-memory inode: it does not wait for the disk.
  std::size_t expected = detail::sys::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                             ? static_cast<std::size_t>(st.st_size)
                             : 0;
  std::string data(expected + 1, '\0');  // one byte more: end of file shows as a short read
  std::size_t got = 0;
  for (;;) {
    got += read_at(fd, data.data() + got, data.size() - got, got, path);
    if (got < data.size()) break;
    data.resize(data.size() * 2 + 4096);  // the file grew (or has no size: /proc)
  }
  data.resize(got);
  guard.fd = -1;
  close_file(fd);
  return data;
}

void write_file(const std::string& path, std::string_view data) {
  int fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, "grove::fs::write_file: opening");
  fd_closer guard{fd};
  write_at(fd, data.data(), data.size(), 0, path);
  guard.fd = -1;
  if (long r = close_file(fd); r < 0) {
    throw fs_error("grove::fs::write_file: closing '" + path + "'", to_error(r));
  }
}

// --- file ------------------------------------------------------------------------------------

file file::open(const std::string& path, open_mode mode) {
  file f;
  f.fd_ = open_file(path, open_flags(mode), "grove::fs::file::open:");
  f.path_ = path;
  f.append_ = mode == open_mode::append;
  if (f.append_) {
    struct stat st {};
    if (detail::sys::fstat(f.fd_, &st) == 0) f.position_ = static_cast<std::uint64_t>(st.st_size);
  }
  return f;
}

file::file(file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      append_(other.append_),
      position_(other.position_),
      buffer_(std::move(other.buffer_)),
      path_(std::move(other.path_)) {}

file& file::operator=(file&& other) noexcept {
  if (this != &other) {
    this->~file();
    new (this) file(std::move(other));
  }
  return *this;
}

file::~file() {
  if (fd_ < 0) return;
  try {
    close();
  } catch (...) {  // lost, as documented; the descriptor is closed either way
  }
}

std::size_t file::read(void* data, std::size_t size) {
  if (fd_ < 0)
    throw fs_error("grove::fs::file::read", std::make_error_code(std::errc::bad_file_descriptor));
  flush();
  if (size == 0) return 0;
  op o{op_kind::read};
  o.fd = fd_;
  o.data = data;
  o.size = std::min(size, max_transfer);
  o.offset = position_;
  long n = service().run(o);
  if (n < 0) throw fs_error("grove::fs::file::read '" + path_ + "'", to_error(n));
  position_ += static_cast<std::uint64_t>(n);
  return static_cast<std::size_t>(n);
}

std::size_t file::read_exact(void* data, std::size_t size) {
  if (fd_ < 0)
    throw fs_error("grove::fs::file::read_exact",
                   std::make_error_code(std::errc::bad_file_descriptor));
  flush();
  std::size_t n = read_at(fd_, static_cast<char*>(data), size, position_, path_);
  position_ += n;
  return n;
}

void file::write(std::string_view data) {
  if (fd_ < 0)
    throw fs_error("grove::fs::file::write", std::make_error_code(std::errc::bad_file_descriptor));
  if (buffer_.size() + data.size() <= write_buffer_size) {
    buffer_.append(data);
    return;
  }
  flush();
  if (data.size() >= write_buffer_size) {
    write_through(data.data(), data.size());  // large writes skip the copy
  } else {
    buffer_.append(data);
  }
}

void file::write_through(const char* data, std::size_t size) {
  write_at(fd_, data, size, position_, path_);
  position_ += size;
}

void file::flush() {
  if (buffer_.empty() || fd_ < 0) return;
  std::string pending = std::move(buffer_);
  buffer_.clear();
  write_through(pending.data(), pending.size());
}

std::uint64_t file::seek(std::int64_t offset, seek_from from) {
  flush();
  std::int64_t base = 0;
  if (from == seek_from::current) base = static_cast<std::int64_t>(position_);
  if (from == seek_from::end) base = static_cast<std::int64_t>(size());
  if (base + offset < 0) {
    throw fs_error("grove::fs::file::seek before the start of '" + path_ + "'",
                   std::make_error_code(std::errc::invalid_argument));
  }
  position_ = static_cast<std::uint64_t>(base + offset);
  return position_;
}

std::uint64_t file::size() {
  if (fd_ < 0)
    throw fs_error("grove::fs::file::size", std::make_error_code(std::errc::bad_file_descriptor));
  struct stat st {};
  if (detail::sys::fstat(fd_, &st) != 0) {
    throw fs_error("grove::fs::file::size '" + path_ + "'", {errno, std::system_category()});
  }
  return std::max(static_cast<std::uint64_t>(st.st_size), tell());
}

void file::sync() {
  flush();
  if (fd_ < 0) return;
  op o{op_kind::datasync};
  o.fd = fd_;
  if (long r = service().run(o); r < 0) {
    throw fs_error("grove::fs::file::sync '" + path_ + "'", to_error(r));
  }
}

void file::close() {
  if (fd_ < 0) return;
  std::exception_ptr flush_error;
  try {
    flush();
  } catch (...) {
    flush_error = std::current_exception();
    buffer_.clear();
  }
  int fd = std::exchange(fd_, -1);
  long r = detail::current_fiber() ? close_file(fd) : (detail::sys::close(fd) < 0 ? -errno : 0);
  if (flush_error) std::rethrow_exception(flush_error);
  if (r < 0) throw fs_error("grove::fs::file::close '" + path_ + "'", to_error(r));
}

}  // namespace grove::fs
