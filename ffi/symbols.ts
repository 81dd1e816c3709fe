/**
 * The libc symbol table: every foreign function tcpkit calls, in one place.
 *
 * Parameter types follow the C prototypes (given beside each parameter) on
 * Linux LP64 (x86_64, aarch64): `int` and `socklen_t` are 32-bit, `size_t`,
 * `ssize_t` and `nfds_t` are 64-bit and take a `bigint` (a number works but
 * falls off V8's fast-call path). `i32` parameters reject `-0`, fractions and
 * values ≥ 2^31, so callers pass `x | 0`. Out-parameters and structs we own
 * are `"buffer"`; memory libc owns comes back as `"pointer"`.
 *
 * @module
 */

/** The foreign function interface passed to the single `Deno.dlopen` of libc. */
export const LIBC_SYMBOLS = {
  /** `int *__errno_location(void)`: the calling thread's `errno` (glibc). */
  __errno_location: { parameters: [], result: "pointer" },
  /** `struct servent *getservbyname(const char *name, const char *proto)` */
  getservbyname: {
    parameters: [
      "buffer", // const char *name (NUL-terminated)
      "buffer", // const char *proto (NUL-terminated)
    ],
    result: "pointer",
  },
  /** `int socket(int domain, int type, int protocol)` */
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type (may be or-ed with SOCK_NONBLOCK | SOCK_CLOEXEC)
      "i32", // int protocol
    ],
    result: "i32",
  },
  /** `int socketpair(int domain, int type, int protocol, int sv[2])` */
  socketpair: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
      "buffer", // int sv[2] (out)
    ],
    result: "i32",
  },
  /** `int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)` */
  setsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // const void *optval
      "u32", // socklen_t optlen
    ],
    result: "i32",
  },
  /** `int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)` */
  getsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // void *optval (out)
      "buffer", // socklen_t *optlen (in/out)
    ],
    result: "i32",
  },
  /** `int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen)` */
  getsockname: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr (out)
      "buffer", // socklen_t *addrlen (in/out)
    ],
    result: "i32",
  },
  /** `int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen)` */
  getpeername: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr (out)
      "buffer", // socklen_t *addrlen (in/out)
    ],
    result: "i32",
  },
  /** `int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen)` */
  bind: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  /** `int listen(int sockfd, int backlog)` */
  listen: {
    parameters: [
      "i32", // int sockfd
      "i32", // int backlog
    ],
    result: "i32",
  },
  /** `int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)` */
  accept4: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr (out, may be NULL)
      "buffer", // socklen_t *addrlen (in/out, may be NULL)
      "i32", // int flags (SOCK_NONBLOCK | SOCK_CLOEXEC)
    ],
    result: "i32",
  },
  /** `int close(int fd)` */
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  /** `int dup3(int oldfd, int newfd, int flags)` */
  dup3: {
    parameters: [
      "i32", // int oldfd
      "i32", // int newfd
      "i32", // int flags (O_CLOEXEC)
    ],
    result: "i32",
  },
  /**
   * `int fcntl(int fd, int cmd, ...)`, declared with one `int` argument: the
   * variadic slot is passed like a fixed one on Linux x86_64 and aarch64.
   */
  fcntl: {
    parameters: [
      "i32", // int fd
      "i32", // int cmd
      "i32", // int arg (F_SETFD / F_SETFL flags; ignored by F_GETFD / F_GETFL)
    ],
    result: "i32",
  },
  /** `int shutdown(int sockfd, int how)` */
  shutdown: {
    parameters: [
      "i32", // int sockfd
      "i32", // int how (SHUT_RD, SHUT_WR, SHUT_RDWR)
    ],
    result: "i32",
  },
  /** `ssize_t read(int fd, void *buf, size_t count)` */
  read: {
    parameters: [
      "i32", // int fd
      "buffer", // void *buf (out)
      "usize", // size_t count
    ],
    result: "isize",
  },
  /** `ssize_t write(int fd, const void *buf, size_t count)` */
  write: {
    parameters: [
      "i32", // int fd
      "buffer", // const void *buf
      "usize", // size_t count
    ],
    result: "isize",
  },
  /** `ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)` */
  sendmsg: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct msghdr *msg
      "i32", // int flags (MSG_NOSIGNAL, ...)
    ],
    result: "isize",
  },
  /** `ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags)` */
  recvmsg: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct msghdr *msg (in/out)
      "i32", // int flags (MSG_CMSG_CLOEXEC, ...)
    ],
    result: "isize",
  },
  /** `int memfd_create(const char *name, unsigned int flags)` */
  memfd_create: {
    parameters: [
      "buffer", // const char *name (NUL-terminated)
      "u32", // unsigned int flags (MFD_CLOEXEC, ...)
    ],
    result: "i32",
  },
  /**
   * `int open(const char *pathname, int flags, ...)`, declared with the
   * `mode_t mode` slot fixed, as for `fcntl`.
   */
  open: {
    parameters: [
      "buffer", // const char *pathname (NUL-terminated)
      "i32", // int flags (O_RDWR | O_CLOEXEC, ...)
      "u32", // mode_t mode (only read with O_CREAT / O_TMPFILE)
    ],
    result: "i32",
  },
  /** `int ftruncate(int fd, off_t length)` */
  ftruncate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t length
    ],
    result: "i32",
  },
  /** `off_t lseek(int fd, off_t offset, int whence)` */
  lseek: {
    parameters: [
      "i32", // int fd
      "i64", // off_t offset
      "i32", // int whence (SEEK_SET, SEEK_CUR, SEEK_END)
    ],
    result: "i64",
  },
  /**
   * `void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)`;
   * returns `MAP_FAILED` (`(void *)-1`), not NULL, on failure.
   */
  mmap: {
    parameters: [
      "pointer", // void *addr (NULL: the kernel chooses)
      "usize", // size_t length
      "i32", // int prot (PROT_READ | PROT_WRITE)
      "i32", // int flags (MAP_SHARED, ...)
      "i32", // int fd
      "i64", // off_t offset
    ],
    result: "pointer",
  },
  /** `int munmap(void *addr, size_t length)` */
  munmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
    ],
    result: "i32",
  },
  /** `int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen)` */
  connect: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  /** `ssize_t send(int sockfd, const void *buf, size_t len, int flags)` */
  send: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const void *buf
      "usize", // size_t len
      "i32", // int flags (MSG_NOSIGNAL, ...)
    ],
    result: "isize",
  },
  /** `int epoll_create1(int flags)` */
  epoll_create1: {
    parameters: [
      "i32", // int flags (EPOLL_CLOEXEC)
    ],
    result: "i32",
  },
  /** `int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)` */
  epoll_ctl: {
    parameters: [
      "i32", // int epfd
      "i32", // int op (EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL)
      "i32", // int fd
      "buffer", // struct epoll_event *event (ignored by EPOLL_CTL_DEL)
    ],
    result: "i32",
  },
  /** `int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)` */
  epoll_wait: {
    parameters: [
      "i32", // int epfd
      "buffer", // struct epoll_event *events (out)
      "i32", // int maxevents
      "i32", // int timeout (milliseconds, -1 = forever, 0 = poll)
    ],
    result: "i32",
  },
  /**
   * `epoll_wait()` again, run on Deno's blocking thread pool: the call
   * returns a Promise, so a wait with a timeout does not block JavaScript.
   * errno cannot be read after it (it ran on another thread), and the events
   * buffer must stay untouched and referenced until the Promise settles.
   */
  epoll_wait_nonblocking: {
    name: "epoll_wait",
    parameters: [
      "i32", // int epfd
      "buffer", // struct epoll_event *events (out)
      "i32", // int maxevents
      "i32", // int timeout (milliseconds; never -1: the process could not exit)
    ],
    result: "i32",
    nonblocking: true,
  },
  /** `int eventfd(unsigned int initval, int flags)` */
  eventfd: {
    parameters: [
      "u32", // unsigned int initval
      "i32", // int flags (EFD_NONBLOCK | EFD_CLOEXEC)
    ],
    result: "i32",
  },
  /** `int chmod(const char *pathname, mode_t mode)` */
  chmod: {
    parameters: [
      "buffer", // const char *pathname (NUL-terminated)
      "u32", // mode_t mode
    ],
    result: "i32",
  },
  /** `int rename(const char *oldpath, const char *newpath)` */
  rename: {
    parameters: [
      "buffer", // const char *oldpath (NUL-terminated)
      "buffer", // const char *newpath (NUL-terminated)
    ],
    result: "i32",
  },
  /** `int link(const char *oldpath, const char *newpath)`: fails with EEXIST, never replaces */
  link: {
    parameters: [
      "buffer", // const char *oldpath (NUL-terminated)
      "buffer", // const char *newpath (NUL-terminated)
    ],
    result: "i32",
  },
  /**
   * `int statx(int dirfd, const char *pathname, int flags, unsigned int mask,
   * struct statx *statxbuf)`: its struct has one layout on every
   * architecture, unlike `struct stat`.
   */
  statx: {
    parameters: [
      "i32", // int dirfd (AT_FDCWD)
      "buffer", // const char *pathname (NUL-terminated)
      "i32", // int flags (AT_SYMLINK_NOFOLLOW, ...)
      "u32", // unsigned int mask (STATX_TYPE, ...)
      "buffer", // struct statx *statxbuf (out, 256 bytes)
    ],
    result: "i32",
  },
  /** `int unlink(const char *pathname)` */
  unlink: {
    parameters: [
      "buffer", // const char *pathname (NUL-terminated)
    ],
    result: "i32",
  },
  /** `char *mkdtemp(char *template)`: fills in the template's XXXXXX; the directory is mode 0700 */
  mkdtemp: {
    parameters: [
      "buffer", // char *template (NUL-terminated, ends in XXXXXX; rewritten)
    ],
    result: "pointer",
  },
  /** `int rmdir(const char *pathname)` */
  rmdir: {
    parameters: [
      "buffer", // const char *pathname (NUL-terminated)
    ],
    result: "i32",
  },
  /** `int getrlimit(int resource, struct rlimit *rlim)` */
  getrlimit: {
    parameters: [
      "i32", // int resource (RLIMIT_NOFILE, ...)
      "buffer", // struct rlimit *rlim (out)
    ],
    result: "i32",
  },
  /** `ssize_t readlink(const char *pathname, char *buf, size_t bufsiz)` (no NUL added) */
  readlink: {
    parameters: [
      "buffer", // const char *pathname (NUL-terminated)
      "buffer", // char *buf (out)
      "usize", // size_t bufsiz
    ],
    result: "isize",
  },
  /** `ssize_t getdents64(int fd, void *dirp, size_t count)`: raw `struct linux_dirent64` records */
  getdents64: {
    parameters: [
      "i32", // int fd (an O_DIRECTORY fd)
      "buffer", // void *dirp (out)
      "usize", // size_t count
    ],
    result: "isize",
  },
  /** `pid_t getpid(void)` */
  getpid: { parameters: [], result: "i32" },
  /** `uid_t getuid(void)` */
  getuid: { parameters: [], result: "u32" },
  /** `uid_t geteuid(void)` */
  geteuid: { parameters: [], result: "u32" },
  /** `gid_t getgid(void)` */
  getgid: { parameters: [], result: "u32" },
} as const satisfies Deno.ForeignLibraryInterface;
