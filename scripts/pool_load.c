/*
 * pool_load: a single-threaded epoll load generator for line-per-connection
 * services (iotcpd, or `socat ... EXEC:cat`), used by scripts/bench_pool.ts
 * (`deno task bench:pool`).
 *
 * Usage:
 *   pool_load HOST PORT CONCURRENCY SECONDS MAX_REQS
 *
 *   HOST         an IPv4 literal; only this address is ever contacted
 *   CONCURRENCY  1..1000 clients, each in a loop: connect, send one line
 *                ("req <n>\n"), read the reply line, close
 *   SECONDS      0 < SECONDS <= 60: no new request starts after that
 *   MAX_REQS     bound on requests started (1..10000000)
 *
 * A reply must be the request line itself (cat echoes it); anything else,
 * including "ERR\n", counts as an error. A connection that fails, resets
 * or closes before a full reply line counts as a failure. In-flight
 * requests get 5 s to finish after the window.
 *
 * Latency runs from connect() to the reply's newline. Prints one JSON line:
 *   {"requests","errors","failures","seconds","rps","p50_ms","p99_ms",
 *    "client_cpu_seconds"}
 * requests counts correct replies; rps = requests / seconds.
 * Exits 2 on bad arguments, 1 on any other setup failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONCURRENCY 1000
#define LINE_MAX_BYTES 64
#define DRAIN_SECONDS 5.0

enum phase { IDLE, CONNECTING, READING };

struct client {
  int fd;
  enum phase phase;
  double started;
  char request[LINE_MAX_BYTES];
  size_t request_len;
  char reply[LINE_MAX_BYTES];
  size_t reply_len;
};

static struct sockaddr_in target;
static int epfd;
static uint64_t started_count, max_reqs, ok_count, error_count, failure_count;
static double *latencies;
static size_t latency_count;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void finish(struct client *c) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->phase = IDLE;
}

static void fail(struct client *c) {
  failure_count++;
  finish(c);
}

static void start(struct client *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    failure_count++;
    c->phase = IDLE;
    return;
  }
  c->request_len = (size_t)snprintf(c->request, sizeof c->request,
                                    "req %llu\n",
                                    (unsigned long long)started_count);
  started_count++;
  c->reply_len = 0;
  c->started = now();
  c->phase = CONNECTING;
  int rc = connect(c->fd, (struct sockaddr *)&target, sizeof target);
  if (rc < 0 && errno != EINPROGRESS) {
    fail(c);
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail(c);
}

static void on_writable(struct client *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
    fail(c);
    return;
  }
  /* One small line: the socket buffer always takes it whole. */
  ssize_t n = send(c->fd, c->request, c->request_len, MSG_NOSIGNAL);
  if (n != (ssize_t)c->request_len) {
    fail(c);
    return;
  }
  c->phase = READING;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) fail(c);
}

static void on_readable(struct client *c) {
  ssize_t n = recv(c->fd, c->reply + c->reply_len,
                   sizeof c->reply - c->reply_len, 0);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    fail(c);
    return;
  }
  c->reply_len += (size_t)n;
  char *newline = memchr(c->reply, '\n', c->reply_len);
  if (newline == NULL) {
    if (c->reply_len == sizeof c->reply) {
      error_count++;
      finish(c);
    }
    return;
  }
  size_t line_len = (size_t)(newline - c->reply) + 1;
  if (line_len == c->request_len &&
      memcmp(c->reply, c->request, line_len) == 0) {
    ok_count++;
    if (latency_count < max_reqs) {
      latencies[latency_count++] = (now() - c->started) * 1000.0;
    }
  } else {
    error_count++;
  }
  finish(c);
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile(double p) {
  if (latency_count == 0) return -1;
  size_t index = (size_t)(p * (double)(latency_count - 1) + 0.5);
  return latencies[index];
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s HOST PORT CONCURRENCY SECONDS MAX_REQS\n",
            argv[0]);
    return 2;
  }
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  int port = atoi(argv[2]);
  int concurrency = atoi(argv[3]);
  double seconds = atof(argv[4]);
  long long max = atoll(argv[5]);
  if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1 || port < 1 ||
      port > 65535 || concurrency < 1 || concurrency > MAX_CONCURRENCY ||
      !(seconds > 0 && seconds <= 60) || max < 1 || max > 10000000) {
    fprintf(stderr, "pool_load: bad arguments\n");
    return 2;
  }
  target.sin_port = htons((uint16_t)port);
  max_reqs = (uint64_t)max;
  latencies = malloc(sizeof(double) * max_reqs);
  struct client *clients = calloc((size_t)concurrency, sizeof *clients);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (latencies == NULL || clients == NULL || epfd < 0) {
    perror("pool_load: setup");
    return 1;
  }
  struct epoll_event events[256];
  double t0 = now();
  double stop_at = t0 + seconds;
  for (int i = 0; i < concurrency; i++) {
    clients[i].fd = -1;
    start(&clients[i]);
  }
  while (1) {
    double t = now();
    int open = 0;
    for (int i = 0; i < concurrency; i++) {
      if (clients[i].phase == IDLE) {
        if (t < stop_at && started_count < max_reqs) start(&clients[i]);
      }
      if (clients[i].phase != IDLE) open++;
    }
    if (open == 0 || t > stop_at + DRAIN_SECONDS) break;
    int n = epoll_wait(epfd, events, 256, 100);
    for (int i = 0; i < n; i++) {
      struct client *c = events[i].data.ptr;
      if (c->phase == CONNECTING) {
        on_writable(c);
      } else if (c->phase == READING) {
        on_readable(c);
      }
    }
  }
  double elapsed = now() - t0;
  for (int i = 0; i < concurrency; i++) {
    if (clients[i].phase != IDLE) fail(&clients[i]);
  }
  qsort(latencies, latency_count, sizeof(double), compare);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu = (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
               (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  printf("{\"requests\":%llu,\"errors\":%llu,\"failures\":%llu,"
         "\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
         "\"client_cpu_seconds\":%.3f}\n",
         (unsigned long long)ok_count, (unsigned long long)error_count,
         (unsigned long long)failure_count, elapsed,
         (double)ok_count / elapsed, percentile(0.50), percentile(0.99), cpu);
  return 0;
}
