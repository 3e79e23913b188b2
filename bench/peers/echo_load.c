// The echo load generator used for every server in bench/run_net_bench.sh: one thread, one
// level-triggered epoll loop, C connections to 127.0.0.1:PORT, each sending SIZE bytes and
// waiting for them to come back before sending again (ping-pong), for SECONDS.
//   echo_load PORT [CONNECTIONS=100] [SECONDS=5] [SIZE=64]
// Prints: round_trips=N seconds=S round_trips_per_s=R cpu_share=C (the generator's own CPU
// time over the wall time: on a small machine the generator competes with the server for cores)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
  int fd;
  size_t received;  // bytes of the current reply so far
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: echo_load PORT [CONNECTIONS] [SECONDS] [SIZE]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int n = argc > 2 ? atoi(argv[2]) : 100;
  double seconds = argc > 3 ? atof(argv[3]) : 5;
  size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
  char* message = malloc(size);
  char* buf = malloc(size);
  memset(message, 'x', size);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct conn* conns = calloc(n, sizeof *conns);
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // blocking connect, then non-blocking
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) die("connect");
    if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0) die("fcntl");
    conns[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
  }
  double start = now_s(), end = start + seconds;
  for (int i = 0; i < n; ++i) {
    if (write(conns[i].fd, message, size) != (ssize_t)size) die("write");
  }
  unsigned long long round_trips = 0;
  struct epoll_event events[256];
  while (now_s() < end) {
    int k = epoll_wait(ep, events, 256, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < k; ++i) {
      struct conn* c = events[i].data.ptr;
      ssize_t r = read(c->fd, buf, size - c->received);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        fprintf(stderr, "echo_load: the server closed a connection\n");
        return 1;
      }
      c->received += (size_t)r;
      if (c->received < size) continue;
      c->received = 0;
      ++round_trips;
      if (write(c->fd, message, size) != (ssize_t)size) die("write");
    }
  }
  double elapsed = now_s() - start;
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
               usage.ru_stime.tv_usec / 1e6;
  printf("round_trips=%llu seconds=%.3f round_trips_per_s=%.0f cpu_share=%.2f\n", round_trips,
         elapsed, round_trips / elapsed, cpu / elapsed);
  for (int i = 0; i < n; ++i) close(conns[i].fd);
  return 0;
}
