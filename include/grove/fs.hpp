// Files without blocking the hub (gevent's FileObjectThread; the talk's "there is no async
// support for file I/O"). A regular file is always "ready" to epoll, so a plain read() of a cold
// file stalls every fiber on the thread; grove::fs runs each operation on the hub's offload
// thread pool (the default: it measured faster, bench/RESULTS.md) or through io_uring
// (set_backend(backend::io_uring) where the kernel allows it: the kernel does the I/O while the
// hub runs other fibers).
//
// Example:
//   std::string config = grove::fs::read_file("/etc/hostname");
//   grove::fs::write_file("/tmp/out.txt", config);
//
//   auto log = grove::fs::file::open("/tmp/app.log", grove::fs::open_mode::append);
//   log.write("started\n");       // buffered (64 KiB); flush() hands it to the kernel
//   log.flush();
//
//   auto f = grove::fs::file::open("/tmp/out.txt");
//   f.seek(2);
//   char buf[16];
//   std::size_t n = f.read(buf, sizeof buf);   // 0 at end of file
//
// Each operation suspends only the calling fiber. An operation is not interrupted half-way: a
// kill or an expired grove::timeout that arrives meanwhile lets it finish (file operations take
// milliseconds) and is raised at the fiber's next wait. Errors are grove::fs::fs_error with the
// system error and the path. A file belongs to the hub (thread) that opened it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <grove/error.hpp>
#include <string>
#include <string_view>
#include <system_error>

namespace grove::fs {

/// A failed file operation: code() is the system error; what() names the operation and path.
class fs_error : public error {
 public:
  /// `what` names the operation and the file.
  fs_error(const std::string& what, std::error_code ec);
  /// The system error.
  std::error_code code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

/// How file operations reach the kernel.
enum class backend : std::uint8_t {
  io_uring,     ///< one io_uring per hub (set up on first use), where the kernel allows it
  thread_pool,  ///< the hub's offload pool (pread / pwrite on a pool thread); the default
};

/// The backend the current hub's file operations use (thread_pool unless changed).
backend current_backend();
/// Chooses the current hub's backend; asking for io_uring where the kernel refuses it throws
/// fs_error. Files already open switch too (each operation picks the backend afresh).
void set_backend(backend b);
/// True if this hub can use io_uring (it tries to set a ring up the first time).
bool io_uring_available();

/// Reads the whole file.
std::string read_file(const std::string& path);
/// Creates or truncates the file (mode 0644) and writes `data` into it.
void write_file(const std::string& path, std::string_view data);

/// How file::open opens a file.
enum class open_mode : std::uint8_t {
  read,        ///< read only; the file must exist
  write,       ///< write only; created (0644) or truncated
  append,      ///< write only at the end; created (0644) if missing
  read_write,  ///< read and write; created (0644) if missing, not truncated
};

/// Where seek() counts from.
enum class seek_from : std::uint8_t { begin, current, end };

/// An open file with a position, read and write calls, and a 64 KiB write buffer.
class file {
 public:
  /// Opens `path`; throws fs_error.
  static file open(const std::string& path, open_mode mode = open_mode::read);

  /// A closed file.
  file() noexcept = default;
  /// Takes over `other`'s descriptor, position and buffer.
  file(file&& other) noexcept;
  /// Closes this file (see the destructor), then takes over `other`'s.
  file& operator=(file&& other) noexcept;
  /// Flushes and closes; an error then is lost (call close() to see it).
  ~file();

  /// True until close().
  bool is_open() const noexcept { return fd_ >= 0; }
  /// The descriptor (-1 once closed).
  int native_handle() const noexcept { return fd_; }
  /// The path the file was opened with.
  const std::string& path() const noexcept { return path_; }

  /// Reads up to `size` bytes at the position and advances it; 0 at end of file.
  std::size_t read(void* data, std::size_t size);
  /// Reads until `size` bytes or end of file; returns the count.
  std::size_t read_exact(void* data, std::size_t size);
  /// Writes all of `data` at the position (buffered) and advances it.
  void write(std::string_view data);
  /// Moves the position (after flushing); returns the new position.
  std::uint64_t seek(std::int64_t offset, seek_from from = seek_from::begin);
  /// The position.
  std::uint64_t tell() const noexcept { return position_ + buffer_.size(); }
  /// The file's size, buffered writes included.
  std::uint64_t size();
  /// Hands buffered writes to the kernel.
  void flush();
  /// flush(), then fdatasync: the data is on the disk.
  void sync();
  /// Flushes and closes; throws fs_error (the file is closed either way).
  void close();

 private:
  void write_through(const char* data, std::size_t size);

  int fd_ = -1;
  bool append_ = false;
  std::uint64_t position_ = 0;  ///< of the kernel's view (buffered bytes come after it)
  std::string buffer_;          ///< writes not yet handed to the kernel
  std::string path_;
};

}  // namespace grove::fs
