/*
 * echo_load: a small single-threaded epoll load generator for echo servers,
 * used by scripts/bench_echo.ts (`deno task bench:echo`).
 *
 * Usage:
 *   echo_load HOST PORT MODE CONNS [MSG_SIZE [SECONDS [MAX_MSGS [sync]]]]
 *
 *   HOST      an IPv4 or IPv6 literal; only this address is ever contacted
 *   MODE      pingpong  one message in flight per connection
 *             pipeline  up to 64 messages in flight per connection
 *             stream    64 KiB chunks written as fast as the socket accepts,
 *                       everything read back
 *   CONNS     1..10000 connections
 *   MSG_SIZE  1..65536 bytes (default 64; ignored by stream)
 *   SECONDS   load duration, 0 < SECONDS <= 60 (default 3)
 *   MAX_MSGS  bound on messages (stream: chunks) sent (default 50000000)
 *   sync      connect, print "READY" on stderr, wait for a line on stdin,
 *             run, print the result, then wait for a line or EOF on stdin
 *             (at most 30 s each) before closing the connections; lets the
 *             caller sample server CPU exactly around the load window
 *
 * Every message carries a pattern that varies per connection and message;
 * echoed bytes are compared and each mismatching message (stream: each
 * mismatching read) counts as an error, as do early closes and connections
 * that fail to drain within 5 s after the load window.
 *
 * Prints one JSON line on stdout:
 *   {"mode","conns","msgs","bytes_sent","bytes_recv","seconds","errors",
 *    "connect_failures","client_cpu_seconds"}
 * msgs counts completely echoed messages (stream: bytes_recv / 65536);
 * seconds runs from the start of the load to the end of the drain.
 * Exits 2 on bad arguments, 1 on any other setup failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MODE_PINGPONG 0
#define MODE_PIPELINE 1
#define MODE_STREAM 2
#define PIPELINE_DEPTH 64
#define STREAM_CHUNK 65536
#define READ_BUF 65536
#define MAX_CONNS 10000
#define CONNECT_TIMEOUT_S 10.0
#define DRAIN_TIMEOUT_S 5.0
#define SYNC_TIMEOUT_MS 30000

struct conn {
  int fd;
  int open;
  int want_out;          /* EPOLLOUT currently requested */
  uint32_t id;
  uint64_t sent_msgs;    /* messages queued into out (and so sent or pending) */
  uint64_t done_msgs;    /* messages completely echoed */
  size_t recv_off;       /* offset inside message done_msgs */
  uint64_t exp_msg;      /* which message exp holds; UINT64_MAX: none */
  int bad_msg;           /* the current message already counted an error */
  unsigned char *exp;
  unsigned char *out;
  size_t out_len, out_off;
  uint64_t bytes_sent, bytes_recv;
};

static int mode;
static size_t msg_size = 64;
static uint64_t max_msgs = 50000000ULL;
static uint64_t total_queued;
static int stopping;
static uint64_t errors;
static unsigned char *chunk; /* stream pattern, STREAM_CHUNK bytes */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(int code, const char *what) {
  if (errno) fprintf(stderr, "echo_load: %s: %s\n", what, strerror(errno));
  else fprintf(stderr, "echo_load: %s\n", what);
  exit(code);
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo_load HOST PORT pingpong|pipeline|stream CONNS "
          "[MSG_SIZE [SECONDS [MAX_MSGS [sync]]]]\n");
  exit(2);
}

/* Message m of connection c: a 32-bit stamp of m and c, then bytes that
 * depend on the position, m and c. */
static void fill_msg(unsigned char *p, uint32_t c, uint64_t m) {
  uint32_t stamp = (uint32_t)(m * 2654435761u) ^ (c * 40503u);
  unsigned char k = (unsigned char)(m * 151u + (m >> 8) * 7u + c * 13u);
  size_t i = 0;
  for (; i < 4 && i < msg_size; i++) p[i] = (unsigned char)(stamp >> (8 * i));
  for (; i < msg_size; i++) p[i] = (unsigned char)(i * 29u + k);
}

static void set_events(int ep, struct conn *c, int want_out) {
  if (c->want_out == want_out) return;
  struct epoll_event ev;
  ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
  ev.data.ptr = c;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die(1, "epoll_ctl MOD");
  c->want_out = want_out;
}

static void close_conn(int ep, struct conn *c) {
  if (!c->open) return;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->open = 0;
}

/* Queue new messages into c->out if it is empty and the window allows. */
static void refill(struct conn *c) {
  if (stopping || c->out_off < c->out_len) return;
  c->out_len = c->out_off = 0;
  if (mode == MODE_STREAM) {
    if (total_queued >= max_msgs) return;
    c->out = chunk; /* shared, read-only */
    c->out_len = STREAM_CHUNK;
    total_queued++;
    c->sent_msgs++;
    return;
  }
  uint64_t depth = mode == MODE_PINGPONG ? 1 : PIPELINE_DEPTH;
  while (c->sent_msgs - c->done_msgs < depth && total_queued < max_msgs) {
    fill_msg(c->out + c->out_len, c->id, c->sent_msgs);
    c->out_len += msg_size;
    c->sent_msgs++;
    total_queued++;
  }
}

/* Write what is pending; returns -1 if the connection failed. */
static int flush_out(int ep, struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      c->bytes_sent += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_events(ep, c, 1);
      return 0;
    }
    return -1;
  }
  set_events(ep, c, 0);
  return 0;
}

/* Push as much as the socket takes, refilling as windows open. */
static int pump_out(int ep, struct conn *c) {
  for (;;) {
    refill(c);
    if (c->out_off >= c->out_len) {
      set_events(ep, c, 0);
      return 0;
    }
    if (flush_out(ep, c) < 0) return -1;
    if (c->out_off < c->out_len) return 0; /* socket full */
    if (mode != MODE_STREAM) return 0;     /* window refilled on echo */
  }
}

static void check_echo(struct conn *c, const unsigned char *p, size_t n) {
  if (mode == MODE_STREAM) {
    size_t off = (size_t)(c->bytes_recv % STREAM_CHUNK);
    size_t i = 0;
    int bad = 0;
    while (i < n) {
      size_t take = STREAM_CHUNK - off;
      if (take > n - i) take = n - i;
      if (memcmp(p + i, chunk + off, take) != 0) bad = 1;
      i += take;
      off = 0;
    }
    if (bad) errors++;
    c->bytes_recv += n;
    return;
  }
  c->bytes_recv += n;
  while (n > 0) {
    if (c->done_msgs >= c->sent_msgs) {
      /* More bytes than were ever sent. */
      errors++;
      return;
    }
    if (c->exp_msg != c->done_msgs) {
      fill_msg(c->exp, c->id, c->done_msgs);
      c->exp_msg = c->done_msgs;
    }
    size_t take = msg_size - c->recv_off;
    if (take > n) take = n;
    if (!c->bad_msg && memcmp(p, c->exp + c->recv_off, take) != 0) {
      errors++;
      c->bad_msg = 1;
    }
    p += take;
    n -= take;
    c->recv_off += take;
    if (c->recv_off == msg_size) {
      c->recv_off = 0;
      c->bad_msg = 0;
      c->done_msgs++;
    }
  }
}

static int drained(const struct conn *c) {
  if (!c->open) return 1;
  if (c->out_off < c->out_len) return 0;
  if (mode == MODE_STREAM) return c->bytes_recv >= c->bytes_sent;
  return c->done_msgs >= c->sent_msgs;
}

/* Waits for a line or EOF on stdin, at most SYNC_TIMEOUT_MS. */
static void wait_stdin(void) {
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  char buf[256];
  int r = poll(&pfd, 1, SYNC_TIMEOUT_MS);
  if (r > 0) {
    ssize_t n = read(0, buf, sizeof buf);
    (void)n;
  }
}

int main(int argc, char **argv) {
  if (argc < 5 || argc > 9) usage();
  const char *host = argv[1];
  char *end;
  long port = strtol(argv[2], &end, 10);
  if (*end || port < 1 || port > 65535) usage();
  if (strcmp(argv[3], "pingpong") == 0) mode = MODE_PINGPONG;
  else if (strcmp(argv[3], "pipeline") == 0) mode = MODE_PIPELINE;
  else if (strcmp(argv[3], "stream") == 0) mode = MODE_STREAM;
  else usage();
  long nconns = strtol(argv[4], &end, 10);
  if (*end || nconns < 1 || nconns > MAX_CONNS) usage();
  if (argc > 5) {
    long v = strtol(argv[5], &end, 10);
    if (*end || v < 1 || v > 65536) usage();
    msg_size = (size_t)v;
  }
  double seconds = 3;
  if (argc > 6) {
    seconds = strtod(argv[6], &end);
    if (*end || !(seconds > 0) || seconds > 60) usage();
  }
  if (argc > 7) {
    unsigned long long v = strtoull(argv[7], &end, 10);
    if (*end || v < 1 || v > 1000000000ULL) usage();
    max_msgs = v;
  }
  int sync = 0;
  if (argc > 8) {
    if (strcmp(argv[8], "sync") != 0) usage();
    sync = 1;
  }
  if (mode == MODE_STREAM) msg_size = STREAM_CHUNK;

  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sslen = sizeof *sin;
  } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    sslen = sizeof *sin6;
  } else {
    errno = 0;
    die(2, "HOST must be an IPv4 or IPv6 literal");
  }

  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  chunk = malloc(STREAM_CHUNK);
  struct conn *conns = calloc((size_t)nconns, sizeof *conns);
  struct epoll_event *evs = calloc((size_t)nconns, sizeof *evs);
  if (!chunk || !conns || !evs) die(1, "out of memory");
  for (size_t i = 0; i < STREAM_CHUNK; i++)
    chunk[i] = (unsigned char)(i * 7u + (i >> 8) * 3u + (i >> 13));

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die(1, "epoll_create1");

  /* Connect everything, non-blocking, then wait for the outcomes. */
  uint64_t connect_failures = 0;
  long pending = 0;
  for (long i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    c->id = (uint32_t)i;
    c->exp_msg = UINT64_MAX;
    c->fd = -1;
    size_t out_cap = mode == MODE_STREAM ? 0
                     : mode == MODE_PIPELINE ? msg_size * PIPELINE_DEPTH
                                             : msg_size;
    if (out_cap) {
      c->out = malloc(out_cap);
      c->exp = malloc(msg_size);
      if (!c->out || !c->exp) die(1, "out of memory");
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die(1, "socket");
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
      die(1, "setsockopt TCP_NODELAY");
    c->fd = fd;
    if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS) {
      connect_failures++;
      close(fd);
      c->fd = -1;
      continue;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die(1, "epoll_ctl ADD");
    c->want_out = 1;
    pending++;
  }
  double connect_deadline = now_s() + CONNECT_TIMEOUT_S;
  while (pending > 0) {
    int left_ms = (int)((connect_deadline - now_s()) * 1000);
    if (left_ms <= 0) break;
    int n = epoll_wait(ep, evs, (int)nconns, left_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(1, "epoll_wait");
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->open) continue;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      pending--;
      if (err) {
        connect_failures++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        continue;
      }
      c->open = 1;
      c->want_out = -1; /* force the MOD below */
      set_events(ep, c, 0);
    }
  }
  long open_conns = 0;
  for (long i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->open) {
      open_conns++;
    } else if (c->fd >= 0) { /* still connecting at the deadline */
      connect_failures++;
      epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
      close(c->fd);
      c->fd = -1;
    }
  }
  if (open_conns == 0) {
    errno = 0;
    die(1, "no connection could be established");
  }

  if (sync) {
    fprintf(stderr, "READY\n");
    fflush(stderr);
    wait_stdin();
  }

  double cpu0 = cpu_s();
  double t0 = now_s();
  double deadline = t0 + seconds;
  double drain_deadline = 0;
  unsigned char *rbuf = malloc(READ_BUF);
  if (!rbuf) die(1, "out of memory");

  for (long i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->open && pump_out(ep, c) < 0) {
      errors++;
      close_conn(ep, c);
    }
  }

  for (;;) {
    double t = now_s();
    if (!stopping && (t >= deadline || total_queued >= max_msgs)) {
      stopping = 1;
      drain_deadline = t + DRAIN_TIMEOUT_S;
    }
    if (stopping) {
      int all = 1;
      for (long i = 0; i < nconns && all; i++) all = drained(&conns[i]);
      if (all) break;
      if (t >= drain_deadline) {
        for (long i = 0; i < nconns; i++)
          if (!drained(&conns[i])) errors++;
        break;
      }
    }
    int n = epoll_wait(ep, evs, (int)nconns, 20);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(1, "epoll_wait");
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (!c->open) continue;
      uint32_t e = evs[i].events;
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        for (;;) {
          ssize_t r = recv(c->fd, rbuf, READ_BUF, 0);
          if (r > 0) {
            check_echo(c, rbuf, (size_t)r);
            if ((size_t)r < READ_BUF) break;
            continue;
          }
          if (r < 0 && errno == EINTR) continue;
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          /* EOF or error before we were done. */
          errors++;
          close_conn(ep, c);
          break;
        }
        if (!c->open) continue;
        if (pump_out(ep, c) < 0) {
          errors++;
          close_conn(ep, c);
          continue;
        }
      } else if (e & EPOLLOUT) {
        if (pump_out(ep, c) < 0) {
          errors++;
          close_conn(ep, c);
        }
      }
    }
  }
  double elapsed = now_s() - t0;
  double client_cpu = cpu_s() - cpu0;

  uint64_t msgs = 0, bytes_sent = 0, bytes_recv = 0;
  for (long i = 0; i < nconns; i++) {
    bytes_sent += conns[i].bytes_sent;
    bytes_recv += conns[i].bytes_recv;
    msgs += conns[i].done_msgs;
  }
  if (mode == MODE_STREAM) msgs = bytes_recv / STREAM_CHUNK;
  printf("{\"mode\":\"%s\",\"conns\":%ld,\"msgs\":%llu,\"bytes_sent\":%llu,"
         "\"bytes_recv\":%llu,\"seconds\":%.6f,\"errors\":%llu,"
         "\"connect_failures\":%llu,\"client_cpu_seconds\":%.6f}\n",
         argv[3], nconns, (unsigned long long)msgs,
         (unsigned long long)bytes_sent, (unsigned long long)bytes_recv,
         elapsed, (unsigned long long)errors,
         (unsigned long long)connect_failures, client_cpu);
  fflush(stdout);
  if (sync) wait_stdin();
  for (long i = 0; i < nconns; i++) close_conn(ep, &conns[i]);
  close(ep);
  return 0;
}
