// Child processes (gevent's subprocess.Popen): spawn, talk through pipes, wait cooperatively.
//
// Example:
//   std::string kernel = grove::check_output({"uname", "-r"});       // throws process_error
//   int code = grove::run_process({"make", "-j2"}).code;              // inherits stdio
//
//   auto p = grove::process::spawn({"sort"}, {.stdin_ = grove::stdio::pipe(),
//                                             .stdout_ = grove::stdio::pipe()});
//   auto [status, out, err] = p.communicate("b\na\n");               // out == "a\nb\n"
//
// Spawning uses posix_spawn (glibc: clone(CLONE_VM | CLONE_VFORK)), so a parent with a large
// memory footprint does not copy its page tables, and a missing executable, a bad working
// directory or a failed redirection is a process_error from spawn(), not a child that fails
// silently. The call runs on the hub's offload pool (a vfork stops its thread until the child
// has exec'ed): the hub keeps running, and spawns from many fibers proceed in parallel. The child
// starts with every signal unblocked and at its default disposition, and (close_fds, the default)
// with no descriptor of the parent but 0, 1 and 2.
//
// Waiting: the child's exit is a pidfd (pidfd_open) waited on by the hub like a socket, so
// wait() suspends only the calling fiber and honours kill and scoped timeouts.
//
// No zombies: a child is reaped by wait(), wait_for() or poll(); a process object destroyed
// before its child was reaped (a fiber killed or timed out while waiting unwinds it that way)
// sends the child SIGKILL and reaps it, off the hub, on a background reaper thread. Keep the
// object alive, or call wait(), to let a child run on. Only the child is signalled: its own
// children (a shell's commands) are orphaned, not killed; use new_process_group and killpg.
// communicate() and the helpers honour grove::timeout: an expired scope throws timeout_error, and
// the helpers' process objects are destroyed on the way out, which kills and reaps their children.
#pragma once

#include <chrono>
#include <cstdint>
#include <grove/detail/deadline.hpp>
#include <grove/error.hpp>
#include <grove/pipe_stream.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace grove {

/// How a child's stdin, stdout or stderr is connected.
class stdio {
 public:
  enum class kind : std::uint8_t { inherit, pipe, null, file, descriptor, merge_into_stdout };

  /// The parent's own stream (the default).
  static stdio inherit() noexcept { return stdio(kind::inherit); }
  /// A pipe to the parent: stdin_pipe(), stdout_pipe(), stderr_pipe().
  static stdio pipe() noexcept { return stdio(kind::pipe); }
  /// /dev/null.
  static stdio null() noexcept { return stdio(kind::null); }
  /// A file: read for stdin; for output, created (0644) and truncated, or appended to.
  static stdio file(std::string path, bool append = false);
  /// A descriptor of the parent (duplicated into the child; the parent keeps it).
  static stdio descriptor(int fd) noexcept;
  /// For stderr only: the same destination as stdout (2>&1).
  static stdio merge_into_stdout() noexcept { return stdio(kind::merge_into_stdout); }

  /// Which of the above.
  kind how() const noexcept { return kind_; }
  /// The file's path (file()).
  const std::string& path() const noexcept { return path_; }
  /// True for file(path, true).
  bool append() const noexcept { return append_; }
  /// The descriptor (descriptor()).
  int fd() const noexcept { return fd_; }

 private:
  explicit stdio(kind k) noexcept : kind_(k) {}
  kind kind_ = kind::inherit;
  bool append_ = false;
  int fd_ = -1;
  std::string path_;
};

/// How to start a child.
struct process_options {
  std::optional<std::vector<std::string>> environment{};  ///< "K=V" entries; unset: the parent's
  std::string working_directory{};                        ///< empty: the parent's
  stdio stdin_ = stdio::inherit();
  stdio stdout_ = stdio::inherit();
  stdio stderr_ = stdio::inherit();
  bool new_process_group = false;  ///< setpgid(0, 0) in the child (signal the group with -pid)
  bool search_path = true;         ///< a program name without '/' is looked up in the parent's PATH
  bool close_fds = true;           ///< the child gets no descriptor of the parent but 0, 1, 2
};

/// How a child ended.
struct exit_status {
  int code = -1;   ///< exit code, or -1 if a signal ended it
  int signal = 0;  ///< the signal that ended it, or 0
  bool core_dumped = false;

  /// True if the child called exit (then `code` is valid).
  bool exited() const noexcept { return signal == 0; }
  /// True for exit code 0.
  bool success() const noexcept { return signal == 0 && code == 0; }
  /// "exit code 3" or "killed by signal 9 (Killed)".
  std::string describe() const;
  friend bool operator==(const exit_status&, const exit_status&) = default;
};

/// A child failed to start, or (check_output) ended unsuccessfully.
class process_error : public error {
 public:
  /// A child that could not start: `ec` is the reason (ENOENT for a missing executable).
  process_error(const std::string& what, std::error_code ec);
  /// A child that ended unsuccessfully, with the tail of what it wrote on stderr.
  process_error(const std::string& what, exit_status status, std::string stderr_tail);
  /// The system error of a failed start (empty for a child that ran).
  std::error_code code() const noexcept { return code_; }
  /// How the child ended (code -1, signal 0 for a failed start).
  const exit_status& status() const noexcept { return status_; }
  /// The last bytes (up to 4 KiB) the child wrote on stderr, when it was captured.
  const std::string& stderr_tail() const noexcept { return stderr_tail_; }

 private:
  std::error_code code_;
  exit_status status_;
  std::string stderr_tail_;
};

/// What communicate() collected.
struct process_output {
  exit_status status;
  std::string out;  ///< all of stdout (if piped)
  std::string err;  ///< all of stderr (if piped)
};

/// A child process. Movable, not copyable; belongs to the hub (thread) that spawned it.
class process {
 public:
  /// Starts `argv[0]` with `argv`; throws process_error if it cannot start (missing or
  /// non-executable program, bad working directory, unopenable file) and grove::error outside
  /// grove::run.
  static process spawn(const std::vector<std::string>& argv, process_options options = {});

  /// An empty object (no child).
  process() noexcept = default;
  /// Takes over `other`'s child and pipes.
  process(process&& other) noexcept;
  /// Disposes of this child as the destructor does, then takes over `other`'s.
  process& operator=(process&& other) noexcept;
  /// If the child was not reaped: SIGKILL, then a background reaper reaps it (no zombie).
  ~process();

  /// The child's process id (0 for an empty object).
  int pid() const noexcept { return pid_; }
  /// The pipe to the child's stdin (stdin_ = stdio::pipe()); throws grove::error otherwise.
  pipe_stream& stdin_pipe();
  /// The pipe from the child's stdout (stdout_ = stdio::pipe()).
  pipe_stream& stdout_pipe();
  /// The pipe from the child's stderr (stderr_ = stdio::pipe()).
  pipe_stream& stderr_pipe();

  /// Waits (cooperatively) until the child ends, reaps it and returns how it ended. Later calls
  /// return the same status at once.
  exit_status wait();
  /// Like wait(), but gives up after `limit` (the child keeps running): nullopt.
  std::optional<exit_status> wait_for(std::chrono::nanoseconds limit);
  /// The status if the child has ended (reaping it), else nullopt; never waits.
  std::optional<exit_status> poll();

  /// Feeds `input` to stdin (then closes it) while reading stdout and stderr to their ends,
  /// concurrently, so no pipe fills up whatever the sizes; then waits for the child. Streams
  /// that are not piped are skipped (input must then be empty). Honours kill and scoped
  /// timeouts (the child keeps running: kill() it or let the destructor do so).
  process_output communicate(std::string_view input = {});

  /// Sends `signal` to the child (nothing once it has been reaped); throws process_error.
  void send_signal(int signal);
  /// SIGTERM.
  void terminate() { send_signal(15); }
  /// SIGKILL.
  void kill() { send_signal(9); }

 private:
  bool reap(bool block_until_exit);
  void dispose() noexcept;

  int pid_ = 0;
  int pidfd_ = -1;
  std::optional<exit_status> status_;
  pipe_stream stdin_, stdout_, stderr_;
};

/// Runs a child to its end (stdio as given; inherited by default) and returns how it ended.
/// Throws process_error if it cannot start. In an expired grove::timeout scope the child is
/// killed and reaped, and timeout_error propagates.
exit_status run_process(const std::vector<std::string>& argv, process_options options = {});

/// Runs a child to its end and returns its stdout. Throws process_error if it cannot start or
/// ends unsuccessfully (the error carries the status and, unless stderr was redirected by the
/// caller, the tail of stderr).
std::string check_output(const std::vector<std::string>& argv, process_options options = {});

namespace detail {

/// The one child-wait mechanism (grove::process and the waitpid/system shims): waits until the
/// child behind `pidfd` has exited (it is not reaped: waitid/waitpid that next). Never throws.
/// Returns {} once it has exited, errc::timed_out at `deadline`, errc::operation_canceled when the
/// fiber is killed or its grove::timeout expires (the kill / timeout stays pending and is raised
/// at the next grove wait), bad_file_descriptor if the pidfd is closed meanwhile or cannot be
/// watched. Outside a fiber it blocks the thread (poll). The hub keeps watching the pidfd after
/// the call: close it with close_pidfd().
std::error_code wait_child_exit(int pidfd, time_point deadline) noexcept;

/// pidfd_open(pid, 0) (always close-on-exec); -1 and errno on failure.
int open_pidfd(int pid) noexcept;

/// Closes a pidfd that wait_child_exit may have watched: drops the hub's registration of the
/// number (detail::fd_closing), then closes it.
void close_pidfd(int pidfd) noexcept;

}  // namespace detail

}  // namespace grove
