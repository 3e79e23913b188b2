// The floor under any cross-thread ping-pong that sleeps: two threads pass a token back and
// forth, each blocking in the kernel until the other wakes it (futex), or each spinning on a
// shared word (spin). Prints one `key=value` line like the other peers:
//
//   thread_wake_floor futex [round_trips]   ns_per_message= (a sleep + a thread wake-up each)
//   thread_wake_floor spin [round_trips]    ns_per_message= (a cache line's trip between CPUs)
//
// Pin the process to two CPUs (taskset -c 0,1); the threads pin themselves one to each.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic unsigned turn;  // whose turn: 0 main, 1 peer
static long round_trips;
static int spin;
static int cpus[2] = {-1, -1};

static void pin_to(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void wait_turn(unsigned mine) {
  unsigned seen;
  while ((seen = atomic_load(&turn)) != mine) {
    if (!spin) syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
  }
}

static void give_turn(unsigned to) {
  atomic_store(&turn, to);
  if (!spin) syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void* peer(void* unused) {
  (void)unused;
  pin_to(cpus[1]);
  for (long i = 0; i < round_trips; ++i) {
    wait_turn(1);
    give_turn(0);
  }
  return NULL;
}

static double run(void) {
  atomic_store(&turn, 0);
  pthread_t thread;
  pthread_create(&thread, NULL, peer, NULL);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < round_trips; ++i) {
    give_turn(1);
    wait_turn(0);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(thread, NULL);
  double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
  return ns / (2.0 * (double)round_trips);
}

int main(int argc, char** argv) {
  if (argc < 2 || (strcmp(argv[1], "futex") != 0 && strcmp(argv[1], "spin") != 0)) {
    fprintf(stderr, "usage: thread_wake_floor futex|spin [round_trips]\n");
    return 2;
  }
  spin = strcmp(argv[1], "spin") == 0;
  long n = argc > 2 ? atol(argv[2]) : (spin ? 1000000 : 20000);
  if (n < 1) {
    fprintf(stderr, "thread_wake_floor: bad round_trips '%s'\n", argv[2]);
    return 2;
  }
  // One thread on each of the first two CPUs the process may use.
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; ++c)
      if (CPU_ISSET(c, &allowed)) cpus[k++] = c;
  }
  pin_to(cpus[0]);
  round_trips = n / 10 + 1;
  run();  // warm-up
  round_trips = n;
  printf("ns_per_message=%.2f\n", run());
  return 0;
}
