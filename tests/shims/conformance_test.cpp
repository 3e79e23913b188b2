// Outside fibers every interposed call is libc's: the same return value and the same errno. A
// table of scenarios (bad descriptor, end of stream, EAGAIN on the user's non-blocking
// descriptor, EINTR from a signal handler, zero-length I/O, closed peer, partial writes,
// timeouts) runs each scenario twice on fresh descriptors: once through the functions this
// program is linked with (libgrove_shims' definitions) and once through libc's own, found in
// libc.so.6 directly.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

/// Every interposed function of the socket, poll and descriptor families.
struct api {
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*readv)(int, const iovec*, int);
  ssize_t (*writev)(int, const iovec*, int);
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*recvfrom)(int, void*, size_t, int, sockaddr*, socklen_t*);
  ssize_t (*recvmsg)(int, msghdr*, int);
  int (*recvmmsg)(int, mmsghdr*, unsigned, int, timespec*);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*sendto)(int, const void*, size_t, int, const sockaddr*, socklen_t);
  ssize_t (*sendmsg)(int, const msghdr*, int);
  int (*sendmmsg)(int, mmsghdr*, unsigned, int);
  int (*socket)(int, int, int);
  int (*socketpair)(int, int, int, int*);
  int (*connect)(int, const sockaddr*, socklen_t);
  int (*accept)(int, sockaddr*, socklen_t*);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  int (*close)(int);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
  int (*ioctl)(int, unsigned long, ...);
  int (*pipe)(int*);
  int (*pipe2)(int*, int);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
  int (*poll)(pollfd*, nfds_t, int);
  int (*ppoll)(pollfd*, nfds_t, const timespec*, const sigset_t*);
  int (*select)(int, fd_set*, fd_set*, fd_set*, timeval*);
  int (*pselect)(int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*);
  int (*epoll_wait)(int, epoll_event*, int, int);
  int (*epoll_pwait)(int, epoll_event*, int, int, const sigset_t*);
  ssize_t (*read_chk)(int, void*, size_t, size_t);
  ssize_t (*recv_chk)(int, void*, size_t, size_t, int);
  ssize_t (*recvfrom_chk)(int, void*, size_t, size_t, int, sockaddr*, socklen_t*);
  int (*poll_chk)(pollfd*, nfds_t, int, size_t);
  int (*ppoll_chk)(pollfd*, nfds_t, const timespec*, const sigset_t*, size_t);
};

template <class T>
void load(void* handle, const char* name, T& out) {
  out = reinterpret_cast<T>(dlsym(handle, name));
  REQUIRE_MESSAGE(reinterpret_cast<void*>(out) != nullptr, name);
}

api load_api(void* handle) {
  api a{};
#define GROVE_LOAD(field, name) load(handle, name, a.field)
  GROVE_LOAD(read, "read");
  GROVE_LOAD(write, "write");
  GROVE_LOAD(readv, "readv");
  GROVE_LOAD(writev, "writev");
  GROVE_LOAD(recv, "recv");
  GROVE_LOAD(recvfrom, "recvfrom");
  GROVE_LOAD(recvmsg, "recvmsg");
  GROVE_LOAD(recvmmsg, "recvmmsg");
  GROVE_LOAD(send, "send");
  GROVE_LOAD(sendto, "sendto");
  GROVE_LOAD(sendmsg, "sendmsg");
  GROVE_LOAD(sendmmsg, "sendmmsg");
  GROVE_LOAD(socket, "socket");
  GROVE_LOAD(socketpair, "socketpair");
  GROVE_LOAD(connect, "connect");
  GROVE_LOAD(accept, "accept");
  GROVE_LOAD(accept4, "accept4");
  GROVE_LOAD(close, "close");
  GROVE_LOAD(dup, "dup");
  GROVE_LOAD(dup2, "dup2");
  GROVE_LOAD(dup3, "dup3");
  GROVE_LOAD(fcntl, "fcntl64");
  GROVE_LOAD(ioctl, "ioctl");
  GROVE_LOAD(pipe, "pipe");
  GROVE_LOAD(pipe2, "pipe2");
  GROVE_LOAD(setsockopt, "setsockopt");
  GROVE_LOAD(poll, "poll");
  GROVE_LOAD(ppoll, "ppoll");
  GROVE_LOAD(select, "select");
  GROVE_LOAD(pselect, "pselect");
  GROVE_LOAD(epoll_wait, "epoll_wait");
  GROVE_LOAD(epoll_pwait, "epoll_pwait");
  GROVE_LOAD(read_chk, "__read_chk");
  GROVE_LOAD(recv_chk, "__recv_chk");
  GROVE_LOAD(recvfrom_chk, "__recvfrom_chk");
  GROVE_LOAD(poll_chk, "__poll_chk");
  GROVE_LOAD(ppoll_chk, "__ppoll_chk");
#undef GROVE_LOAD
  return a;
}

/// What one scenario observed: the call's result, its errno, and anything else it reports.
struct outcome {
  long result = 0;
  int error = 0;
  long extra = 0;
  bool operator==(const outcome&) const = default;
};

outcome observe(long result, long extra = 0) { return {result, result < 0 ? errno : 0, extra}; }

// Fresh descriptors for one run, closed afterwards with libc's own close.
struct fds {
  std::vector<int> open;
  ~fds() {
    for (int fd : open) syscall(SYS_close, fd);
  }
  std::pair<int, int> pair(int type = SOCK_STREAM) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, type, 0, sv) == 0);
    open.push_back(sv[0]);
    open.push_back(sv[1]);
    return {sv[0], sv[1]};
  }
  std::pair<int, int> pipe_pair(int flags = 0) {
    int p[2];
    REQUIRE(::pipe2(p, flags) == 0);
    open.push_back(p[0]);
    open.push_back(p[1]);
    return {p[0], p[1]};
  }
  int listener(int flags = 0) {
    int fd = ::socket(AF_INET, SOCK_STREAM | flags, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    open.push_back(fd);
    return fd;
  }
  void drop(int fd) {
    syscall(SYS_close, fd);
    std::erase(open, fd);
  }
};

sockaddr_in closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);  // nobody listens there now
  return a;
}

void on_alarm(int) {}

/// Runs `call` with SIGALRM (no SA_RESTART) firing once after 30 ms: a blocking call fails EINTR.
outcome with_alarm(const std::function<outcome()>& call) {
  struct sigaction sa {};
  sa.sa_handler = &on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  struct sigaction old {};
  sigaction(SIGALRM, &sa, &old);
  itimerval t{{0, 0}, {0, 30 * 1000}};
  setitimer(ITIMER_REAL, &t, nullptr);
  outcome o = call();
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &old, nullptr);
  return o;
}

struct scenario {
  const char* name;
  std::function<outcome(const api&)> run;
};

char buf[1 << 16];

std::vector<scenario> scenarios() {
  static const char big[1 << 20] = {};
  return {
      // Bad descriptors.
      {"read(-1)", [](const api& f) { return observe(f.read(-1, buf, 1)); }},
      {"write(bad)", [](const api& f) { return observe(f.write(100000, "x", 1)); }},
      {"readv(bad)",
       [](const api& f) {
         iovec v{buf, 1};
         return observe(f.readv(-1, &v, 1));
       }},
      {"writev(bad)",
       [](const api& f) {
         iovec v{buf, 1};
         return observe(f.writev(-1, &v, 1));
       }},
      {"recv(bad)", [](const api& f) { return observe(f.recv(-1, buf, 1, 0)); }},
      {"recv on a pipe",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         return observe(f.recv(r, buf, 1, 0));
       }},
      {"recvfrom(bad)",
       [](const api& f) { return observe(f.recvfrom(-1, buf, 1, 0, nullptr, nullptr)); }},
      {"recvmsg(bad)",
       [](const api& f) {
         msghdr m{};
         return observe(f.recvmsg(-1, &m, 0));
       }},
      {"recvmmsg(bad)",
       [](const api& f) {
         mmsghdr m{};
         return observe(f.recvmmsg(-1, &m, 1, 0, nullptr));
       }},
      {"send(bad)", [](const api& f) { return observe(f.send(-1, "x", 1, 0)); }},
      {"sendto(bad)", [](const api& f) { return observe(f.sendto(-1, "x", 1, 0, nullptr, 0)); }},
      {"sendmsg(bad)",
       [](const api& f) {
         msghdr m{};
         return observe(f.sendmsg(-1, &m, 0));
       }},
      {"sendmmsg(bad)",
       [](const api& f) {
         mmsghdr m{};
         return observe(f.sendmmsg(-1, &m, 1, 0));
       }},
      {"accept(bad)", [](const api& f) { return observe(f.accept(-1, nullptr, nullptr)); }},
      {"accept4(bad)", [](const api& f) { return observe(f.accept4(-1, nullptr, nullptr, 0)); }},
      {"accept on a socket that does not listen",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         return observe(f.accept(a, nullptr, nullptr));
       }},
      {"connect(bad)",
       [](const api& f) {
         sockaddr_in a = closed_port();
         return observe(f.connect(-1, reinterpret_cast<sockaddr*>(&a), sizeof a));
       }},
      {"connect to a closed port",
       [](const api& f) {
         sockaddr_in a = closed_port();
         int fd = f.socket(AF_INET, SOCK_STREAM, 0);
         outcome o = observe(f.connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a));
         f.close(fd);
         return o;
       }},
      {"connect to a listener",
       [](const api& f) {
         fds d;
         int l = d.listener();
         sockaddr_in a{};
         socklen_t n = sizeof a;
         ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &n);
         int fd = f.socket(AF_INET, SOCK_STREAM, 0);
         outcome o = observe(f.connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a));
         f.close(fd);
         return o;
       }},
      {"close(bad)", [](const api& f) { return observe(f.close(-1)); }},
      {"dup(bad)", [](const api& f) { return observe(f.dup(-1)); }},
      {"dup2(bad)", [](const api& f) { return observe(f.dup2(-1, 300)); }},
      {"dup2 onto itself",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         return observe(f.dup2(r, r) == r);
       }},
      {"dup3 onto itself",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         return observe(f.dup3(r, r, 0));
       }},
      {"fcntl(bad)", [](const api& f) { return observe(f.fcntl(-1, F_GETFL)); }},
      {"ioctl FIONBIO (bad)",
       [](const api& f) {
         int on = 1;
         return observe(f.ioctl(-1, FIONBIO, &on));
       }},
      {"setsockopt(bad)",
       [](const api& f) {
         timeval t{1, 0};
         return observe(f.setsockopt(-1, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t));
       }},
      {"setsockopt on a pipe",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         timeval t{1, 0};
         return observe(f.setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t));
       }},
      {"socket(bad domain)", [](const api& f) { return observe(f.socket(12345, SOCK_STREAM, 0)); }},
      {"socketpair(AF_INET)",
       [](const api& f) {
         int sv[2];
         return observe(f.socketpair(AF_INET, SOCK_STREAM, 0, sv));
       }},
      {"pipe2(bad flags)",
       [](const api& f) {
         int p[2];
         return observe(f.pipe2(p, 0x7fffffff));
       }},
      {"poll(bad fd)",
       [](const api& f) {
         pollfd p{100000, POLLIN, 0};
         int r = f.poll(&p, 1, 100);
         return observe(r, p.revents);
       }},
      {"select(bad fd)",
       [](const api& f) {
         fd_set s;
         FD_ZERO(&s);
         FD_SET(1000, &s);
         timeval t{0, 1000};
         return observe(f.select(1001, &s, nullptr, nullptr, &t));
       }},
      {"epoll_wait(bad)",
       [](const api& f) {
         epoll_event e;
         return observe(f.epoll_wait(-1, &e, 1, 10));
       }},
      {"epoll_pwait(bad max)",
       [](const api& f) {
         int ep = epoll_create1(0);
         epoll_event e;
         outcome o = observe(f.epoll_pwait(ep, &e, 0, 10, nullptr));
         ::close(ep);
         return o;
       }},
      // End of stream.
      {"read at end of stream",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         d.drop(a);
         return observe(f.read(b, buf, sizeof buf));
       }},
      {"recv at end of stream",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         d.drop(a);
         return observe(f.recv(b, buf, sizeof buf, 0));
       }},
      {"recvmsg at end of stream",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         d.drop(a);
         iovec v{buf, sizeof buf};
         msghdr m{};
         m.msg_iov = &v;
         m.msg_iovlen = 1;
         return observe(f.recvmsg(b, &m, 0));
       }},
      {"readv of a pipe at end of stream",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         d.drop(w);
         iovec v{buf, sizeof buf};
         return observe(f.readv(r, &v, 1));
       }},
      // The user's non-blocking descriptors.
      {"read on a non-blocking socket",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair(SOCK_STREAM | SOCK_NONBLOCK);
         return observe(f.read(b, buf, 1));
       }},
      {"recvfrom on a non-blocking datagram socket",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair(SOCK_DGRAM | SOCK_NONBLOCK);
         return observe(f.recvfrom(b, buf, 1, 0, nullptr, nullptr));
       }},
      {"recvmmsg on a non-blocking datagram socket",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair(SOCK_DGRAM | SOCK_NONBLOCK);
         iovec v{buf, 16};
         mmsghdr m{};
         m.msg_hdr.msg_iov = &v;
         m.msg_hdr.msg_iovlen = 1;
         return observe(f.recvmmsg(b, &m, 1, 0, nullptr));
       }},
      {"accept4 on a non-blocking listener",
       [](const api& f) {
         fds d;
         int l = d.listener(SOCK_NONBLOCK);
         return observe(f.accept4(l, nullptr, nullptr, SOCK_CLOEXEC));
       }},
      {"read on a pipe made non-blocking with fcntl",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         f.fcntl(r, F_SETFL, f.fcntl(r, F_GETFL) | O_NONBLOCK);
         long flags = f.fcntl(r, F_GETFL);
         return observe(f.read(r, buf, 1), flags);
       }},
      {"recv after ioctl(FIONBIO)",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         int on = 1;
         f.ioctl(b, FIONBIO, &on);
         return observe(f.recv(b, buf, 1, 0));
       }},
      {"recv with MSG_DONTWAIT",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         return observe(f.recv(b, buf, 1, MSG_DONTWAIT));
       }},
      // Zero-length I/O.
      {"read of zero bytes",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         return observe(f.read(r, buf, 0));
       }},
      {"write of zero bytes",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         return observe(f.write(w, buf, 0));
       }},
      {"send and recv of zero bytes",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         long sent = f.send(a, buf, 0, 0);
         ::send(a, "x", 1, 0);  // a zero-length recv on an empty stream would block
         return observe(f.recv(b, buf, 0, 0), sent);
       }},
      // Closed peer (SIGPIPE is ignored in this program).
      {"write to a closed peer",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         d.drop(b);
         return observe(f.write(a, "x", 1));
       }},
      {"send MSG_NOSIGNAL to a closed peer",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         d.drop(b);
         return observe(f.send(a, "x", 1, MSG_NOSIGNAL));
       }},
      {"writev to a closed pipe",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         d.drop(r);
         iovec v{const_cast<char*>("x"), 1};
         return observe(f.writev(w, &v, 1));
       }},
      {"sendmsg to a closed peer",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         d.drop(b);
         iovec v{const_cast<char*>("x"), 1};
         msghdr m{};
         m.msg_iov = &v;
         m.msg_iovlen = 1;
         return observe(f.sendmsg(a, &m, 0));
       }},
      // Partial writes on the user's non-blocking socket.
      {"a partial write",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair(SOCK_STREAM | SOCK_NONBLOCK);
         long first = f.write(a, big, sizeof big);
         return observe(f.write(a, big, sizeof big), first > 0 && first < long(sizeof big));
       }},
      {"a partial sendto",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair(SOCK_STREAM | SOCK_NONBLOCK);
         long first = f.sendto(a, big, sizeof big, 0, nullptr, 0);
         return observe(first > 0 && first < long(sizeof big));
       }},
      // EINTR from a signal handler.
      {"read interrupted",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         return with_alarm([&] { return observe(f.read(r, buf, 1)); });
       }},
      {"recv interrupted",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         return with_alarm([&] { return observe(f.recv(b, buf, 1, 0)); });
       }},
      {"accept interrupted",
       [](const api& f) {
         fds d;
         int l = d.listener();
         return with_alarm([&] { return observe(f.accept(l, nullptr, nullptr)); });
       }},
      {"poll interrupted",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         pollfd p{r, POLLIN, 0};
         return with_alarm([&] { return observe(f.poll(&p, 1, -1)); });
       }},
      {"select interrupted",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         fd_set s;
         FD_ZERO(&s);
         FD_SET(r, &s);
         return with_alarm([&] { return observe(f.select(r + 1, &s, nullptr, nullptr, nullptr)); });
       }},
      {"epoll_wait interrupted",
       [](const api& f) {
         int ep = epoll_create1(0);
         outcome o = with_alarm([&] {
           epoll_event e;
           return observe(f.epoll_wait(ep, &e, 1, -1));
         });
         ::close(ep);
         return o;
       }},
      // Readiness and timeouts.
      {"poll with data ready",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         ::write(w, "x", 1);
         pollfd p{r, POLLIN, 0};
         return observe(f.poll(&p, 1, 1000), p.revents);
       }},
      {"poll timeout",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         pollfd p{r, POLLIN, 0};
         return observe(f.poll(&p, 1, 20), p.revents);
       }},
      {"ppoll timeout",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         pollfd p{r, POLLIN, 0};
         timespec t{0, 20 * 1000 * 1000};
         return observe(f.ppoll(&p, 1, &t, nullptr), p.revents);
       }},
      {"select timeout writes back zero",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         fd_set s;
         FD_ZERO(&s);
         FD_SET(r, &s);
         timeval t{0, 20 * 1000};
         int n = f.select(r + 1, &s, nullptr, nullptr, &t);
         return observe(n, t.tv_sec * 1000000 + t.tv_usec + (FD_ISSET(r, &s) ? 1 : 0));
       }},
      {"pselect timeout",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         fd_set s;
         FD_ZERO(&s);
         FD_SET(r, &s);
         timespec t{0, 20 * 1000 * 1000};
         return observe(f.pselect(r + 1, &s, nullptr, nullptr, &t, nullptr));
       }},
      {"SO_RCVTIMEO expiry",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         timeval t{0, 30 * 1000};
         f.setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
         return observe(f.recv(b, buf, 1, 0));
       }},
      // The fortified variants.
      {"__read_chk at end of stream",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         ::write(w, "abc", 3);
         d.drop(w);
         long n = f.read_chk(r, buf, 2, sizeof buf);
         return observe(f.read_chk(r, buf, 2, sizeof buf), n);
       }},
      {"__recv_chk and __recvfrom_chk",
       [](const api& f) {
         fds d;
         auto [a, b] = d.pair();
         ::send(a, "abcd", 4, 0);
         long n = f.recv_chk(b, buf, 2, sizeof buf, 0);
         return observe(f.recvfrom_chk(b, buf, 8, sizeof buf, 0, nullptr, nullptr), n);
       }},
      {"__poll_chk and __ppoll_chk",
       [](const api& f) {
         fds d;
         auto [r, w] = d.pipe_pair();
         ::write(w, "x", 1);
         pollfd p{r, POLLIN, 0};
         long n = f.poll_chk(&p, 1, 100, sizeof p);
         timespec t{0, 0};
         return observe(f.ppoll_chk(&p, 1, &t, nullptr, sizeof p), n * 100 + p.revents);
       }},
  };
}

}  // namespace

TEST_CASE("outside fibers every interposed call returns what libc's returns, with its errno") {
  signal(SIGPIPE, SIG_IGN);
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(libc != nullptr);
  api shimmed = load_api(RTLD_DEFAULT);
  api original = load_api(libc);
  // The program's calls really go to the shims.
  CHECK(reinterpret_cast<void*>(shimmed.recv) != reinterpret_cast<void*>(original.recv));
  CHECK(reinterpret_cast<void*>(shimmed.poll) != reinterpret_cast<void*>(original.poll));
  CHECK(reinterpret_cast<void*>(&::close) != reinterpret_cast<void*>(original.close));
  for (const scenario& s : scenarios()) {
    std::string name = s.name;
    CAPTURE(name);
    outcome expected = s.run(original);
    outcome got = s.run(shimmed);
    INFO("libc: " << expected.result << " errno " << expected.error << " extra " << expected.extra);
    INFO("shim: " << got.result << " errno " << got.error << " extra " << got.extra);
    CHECK(got == expected);
  }
}
