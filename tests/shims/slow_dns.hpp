// A private, slow DNS for tests: run_with_slow_dns(fn) forks a child that enters its own network
// and mount namespaces (unshare; a user namespace too when not root), brings its loopback up,
// serves DNS on 127.0.0.1:53 answering every query `delay` after it arrived, bind-mounts a
// resolv.conf naming that server over /etc/resolv.conf (only the child sees it) and runs fn()
// there. Nothing outside the child changes; no network but the child's own loopback.
//
// Names it knows: slow.test -> 127.0.0.2 (A), 2.0.0.127.in-addr.arpa -> slow.test (PTR); other
// A / PTR queries get NXDOMAIN, other types an empty answer.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace slow_dns {

/// What run_with_slow_dns reports.
struct outcome {
  bool available = false;  ///< namespaces could be set up (else fn did not run)
  std::string failures;    ///< what fn reported ("" = all good)
  std::string notes;       ///< why it was unavailable, or fn's messages
};

namespace detail {

inline std::vector<unsigned char> encode_name(const std::string& name) {
  std::vector<unsigned char> out;
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<unsigned char>(dot - start));
    out.insert(out.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

/// The answer to one query, or empty if the packet is not a query we can parse.
inline std::vector<unsigned char> answer(const unsigned char* q, std::size_t n) {
  if (n < 12 || q[4] != 0 || q[5] != 1) return {};
  std::size_t i = 12;
  std::string name;
  while (i < n && q[i] != 0) {
    std::size_t len = q[i++];
    if (len > 63 || i + len > n) return {};
    if (!name.empty()) name += '.';
    for (std::size_t k = 0; k < len; ++k) name += static_cast<char>(std::tolower(q[i + k]));
    i += len;
  }
  if (i + 5 > n) return {};
  ++i;  // the root label
  unsigned type = (q[i] << 8) | q[i + 1];
  std::size_t question_end = i + 4;
  std::vector<unsigned char> rdata;
  unsigned rcode = 0;
  if (type == 1) {  // A
    if (name == "slow.test") {
      rdata = {127, 0, 0, 2};
    } else {
      rcode = 3;
    }
  } else if (type == 12) {  // PTR
    if (name == "2.0.0.127.in-addr.arpa") {
      rdata = encode_name("slow.test");
    } else {
      rcode = 3;
    }
  }
  std::vector<unsigned char> r(q, q + question_end);
  r[2] = 0x81 | (q[2] & 0x01);                      // QR, opcode 0, RD copied
  r[3] = static_cast<unsigned char>(0x80 | rcode);  // RA
  r[6] = 0;
  r[7] = rdata.empty() ? 0 : 1;
  r[8] = r[9] = r[10] = r[11] = 0;
  if (!rdata.empty()) {
    unsigned char rr[] = {0xc0,
                          12,
                          static_cast<unsigned char>(type >> 8),
                          static_cast<unsigned char>(type),
                          0,
                          1,
                          0,
                          0,
                          0,
                          60,
                          static_cast<unsigned char>(rdata.size() >> 8),
                          static_cast<unsigned char>(rdata.size())};
    r.insert(r.end(), rr, rr + sizeof(rr));
    r.insert(r.end(), rdata.begin(), rdata.end());
  }
  return r;
}

/// Serves DNS on `fd` until `stop` is readable; answers each query `delay` after it came.
inline void serve(int fd, int stop, std::chrono::milliseconds delay) {
  using clock = std::chrono::steady_clock;
  struct pending {
    clock::time_point due;
    sockaddr_storage peer;
    socklen_t peer_length;
    std::vector<unsigned char> reply;
  };
  std::deque<pending> queue;
  for (int rounds = 0; rounds < 100000; ++rounds) {
    int timeout = -1;
    if (!queue.empty()) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(queue.front().due - clock::now());
      timeout = left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop, POLLIN, 0}};
    ::poll(fds, 2, timeout);
    if (fds[1].revents) return;
    if (fds[0].revents & POLLIN) {
      unsigned char buf[1500];
      pending p{};
      p.peer_length = sizeof(p.peer);
      ssize_t n =
          ::recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&p.peer), &p.peer_length);
      if (n > 0) {
        p.reply = answer(buf, static_cast<std::size_t>(n));
        p.due = clock::now() + delay;
        if (!p.reply.empty()) queue.push_back(std::move(p));
      }
    }
    while (!queue.empty() && queue.front().due <= clock::now()) {
      auto& p = queue.front();
      ::sendto(fd, p.reply.data(), p.reply.size(), 0, reinterpret_cast<sockaddr*>(&p.peer),
               p.peer_length);
      queue.pop_front();
    }
  }
}

/// Enters private namespaces and points the resolver at 127.0.0.1; "" or what failed.
inline std::string enter_namespaces(const std::string& resolv_conf_path) {
  if (::unshare(CLONE_NEWNS | CLONE_NEWNET) != 0 &&
      ::unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) != 0) {
    return std::string("unshare: ") + std::strerror(errno);
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("mount --make-rprivate /: ") + std::strerror(errno);
  }
  if (::mount(resolv_conf_path.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) {
    return std::string("bind-mount resolv.conf: ") + std::strerror(errno);
  }
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
            (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
  if (s >= 0) ::close(s);
  if (!up) return std::string("bring loopback up: ") + std::strerror(errno);
  return {};
}

inline void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace detail

/// Runs `fn` in a child with the slow DNS (see the header comment); fn returns its failures
/// ("" = none). `delay` is the server's answer delay. Call it outside grove::run.
inline outcome run_with_slow_dns(std::chrono::milliseconds delay,
                                 const std::function<std::string()>& fn) {
  outcome result;
  char path[] = "/tmp/grove-slow-dns-XXXXXX";
  int conf = ::mkstemp(path);
  if (conf < 0) {
    result.notes = "mkstemp failed";
    return result;
  }
  detail::write_all(conf, "nameserver 127.0.0.1\noptions attempts:1 timeout:5\n");
  ::close(conf);
  int report[2];
  if (::pipe(report) != 0) {
    ::unlink(path);
    result.notes = "pipe failed";
    return result;
  }
  pid_t child = ::fork();
  if (child == 0) {
    ::close(report[0]);
    std::string setup = detail::enter_namespaces(path);
    if (!setup.empty()) {
      detail::write_all(report[1], "U" + setup);
      ::_exit(0);
    }
    int server = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(53);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (server < 0 || ::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      detail::write_all(report[1], std::string("Ubind 127.0.0.1:53: ") + std::strerror(errno));
      ::_exit(0);
    }
    int stop[2];
    if (::pipe(stop) != 0) ::_exit(1);
    std::thread thread(detail::serve, server, stop[0], delay);
    std::string failures = fn();
    detail::write_all(stop[1], "x");
    thread.join();
    detail::write_all(report[1], "R" + failures);
    ::_exit(0);
  }
  ::close(report[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(report[0], buf, sizeof(buf));
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(report[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ::unlink(path);
  if (text.empty()) {
    result.notes = "the child died without reporting (status " + std::to_string(status) + ")";
    result.available = true;
    result.failures = result.notes;
  } else if (text[0] == 'U') {
    result.notes = text.substr(1);
  } else {
    result.available = true;
    result.failures = text.substr(1);
  }
  return result;
}

}  // namespace slow_dns
