/**
 * Socket constants of Linux (x86_64 and aarch64 share these values), mirrored
 * one per line from the C headers.
 *
 * @module
 */

// <sys/socket.h>: address families
/** `AF_UNIX`: local (Unix domain) sockets. */
export const AF_UNIX = 1;
/** `AF_INET`: IPv4. */
export const AF_INET = 2;
/** `AF_INET6`: IPv6. */
export const AF_INET6 = 10;

// <sys/socket.h>: socket types and flags for socket()/accept4()
/** `SOCK_STREAM`: a byte stream (TCP). */
export const SOCK_STREAM = 1;
/** `SOCK_DGRAM`: datagrams (UDP). */
export const SOCK_DGRAM = 2;
/** `SOCK_NONBLOCK` (= `O_NONBLOCK`): or-ed into the type for socket() and accept4(). */
export const SOCK_NONBLOCK = 0o4000;
/** `SOCK_CLOEXEC` (= `O_CLOEXEC`): or-ed into the type for socket() and accept4(). */
export const SOCK_CLOEXEC = 0o2000000;

// <netinet/in.h>: protocols and option levels
/** `SOL_SOCKET`: the level of the `SO_*` options. */
export const SOL_SOCKET = 1;
/** `IPPROTO_IP`: the IPv4 level, and "default protocol" for socket(). */
export const IPPROTO_IP = 0;
/** `IPPROTO_TCP` (= `SOL_TCP`): the level of the `TCP_*` options. */
export const IPPROTO_TCP = 6;
/** `IPPROTO_IPV6`: the level of the `IPV6_*` options. */
export const IPPROTO_IPV6 = 41;

// SOL_SOCKET options
/** `SO_TYPE`: the socket type (read-only). */
export const SO_TYPE = 3;
/** `SO_ERROR`: pending socket error, cleared on read. */
export const SO_ERROR = 4;
/** `SO_REUSEADDR`: allow bind() while old connections linger in TIME_WAIT. */
export const SO_REUSEADDR = 2;
/** `SO_SNDBUF`: send buffer size in bytes (the kernel doubles what you set). */
export const SO_SNDBUF = 7;
/** `SO_RCVBUF`: receive buffer size in bytes (the kernel doubles what you set). */
export const SO_RCVBUF = 8;
/** `SO_KEEPALIVE`: send TCP keepalive probes. */
export const SO_KEEPALIVE = 9;
/** `SO_LINGER`: what close() does with unsent data; `struct linger`. */
export const SO_LINGER = 13;
/** `SO_REUSEPORT`: several sockets may bind the same address and port. */
export const SO_REUSEPORT = 15;
/** `SO_PEERCRED`: credentials of a Unix socket's peer; `struct ucred`. */
export const SO_PEERCRED = 17;
/** `SO_ACCEPTCONN`: 1 when the socket is listening (read-only). */
export const SO_ACCEPTCONN = 30;
/** `SO_PROTOCOL`: the socket's protocol (read-only). */
export const SO_PROTOCOL = 38;
/** `SO_DOMAIN`: the socket's address family (read-only). */
export const SO_DOMAIN = 39;
/** `SO_COOKIE`: a 64-bit id unique to the socket for the boot (read-only). */
export const SO_COOKIE = 57;

// IPPROTO_TCP options
/** `TCP_NODELAY`: disable Nagle's algorithm. */
export const TCP_NODELAY = 1;
/** `TCP_KEEPIDLE`: seconds idle before the first keepalive probe. */
export const TCP_KEEPIDLE = 4;
/** `TCP_KEEPINTVL`: seconds between keepalive probes. */
export const TCP_KEEPINTVL = 5;
/** `TCP_KEEPCNT`: unanswered probes before the connection is dropped. */
export const TCP_KEEPCNT = 6;
/** `TCP_LINGER2`: seconds an orphaned connection may stay in FIN-WAIT-2. */
export const TCP_LINGER2 = 8;

// IPPROTO_IPV6 options
/** `IPV6_V6ONLY`: an IPv6 socket refuses IPv4-mapped peers. */
export const IPV6_V6ONLY = 26;

// Control messages
/** `SCM_RIGHTS`: pass file descriptors over a Unix socket. */
export const SCM_RIGHTS = 1;
/** `SCM_CREDENTIALS`: pass `struct ucred` over a Unix socket. */
export const SCM_CREDENTIALS = 2;

// send()/recv() flags
/** `MSG_PEEK`: read without consuming. */
export const MSG_PEEK = 0x2;
/** `MSG_CTRUNC`: (in msg_flags) control data was truncated; fds were lost. */
export const MSG_CTRUNC = 0x8;
/** `MSG_TRUNC`: (in msg_flags) datagram was truncated. */
export const MSG_TRUNC = 0x20;
/** `MSG_DONTWAIT`: this call is non-blocking. */
export const MSG_DONTWAIT = 0x40;
/** `MSG_NOSIGNAL`: return EPIPE instead of raising SIGPIPE. */
export const MSG_NOSIGNAL = 0x4000;
/** `MSG_CMSG_CLOEXEC`: set close-on-exec on fds received with SCM_RIGHTS. */
export const MSG_CMSG_CLOEXEC = 0x40000000;

// shutdown() directions
/** `SHUT_RD`: no more receptions. */
export const SHUT_RD = 0;
/** `SHUT_WR`: no more transmissions (sends FIN). */
export const SHUT_WR = 1;
/** `SHUT_RDWR`: both. */
export const SHUT_RDWR = 2;

// <sys/resource.h>
/** `RLIMIT_NOFILE`: the limit on open file descriptors. */
export const RLIMIT_NOFILE = 7;
/** `RLIM_INFINITY`: "no limit" in `struct rlimit` (all 64 bits set). */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

// <fcntl.h>
/** `F_DUPFD_CLOEXEC`: duplicate to the lowest free fd ≥ the argument, close-on-exec. */
export const F_DUPFD_CLOEXEC = 1030;
/** `F_GETFD`: read the fd flags. */
export const F_GETFD = 1;
/** `F_SETFD`: set the fd flags. */
export const F_SETFD = 2;
/** `F_GETFL`: read the file status flags. */
export const F_GETFL = 3;
/** `F_SETFL`: set the file status flags. */
export const F_SETFL = 4;
/** `FD_CLOEXEC`: the close-on-exec fd flag. */
export const FD_CLOEXEC = 1;
/** `O_NONBLOCK`: the non-blocking file status flag. */
export const O_NONBLOCK = 0o4000;
/** `O_CLOEXEC`: close-on-exec, for dup3() and open(). */
export const O_CLOEXEC = 0o2000000;
/** `O_RDWR`: open() for reading and writing. */
export const O_RDWR = 0o2;
/** `O_RDONLY`: open() for reading only. */
export const O_RDONLY = 0;
/** `O_DIRECTORY`: open() fails unless the path is a directory. */
export const O_DIRECTORY = 0o200000;

// <unistd.h>
/** `SEEK_END`: lseek() relative to the end of the file. */
export const SEEK_END = 2;

// <sys/mman.h>
/** `MFD_CLOEXEC`: memfd_create() sets close-on-exec on the new fd. */
export const MFD_CLOEXEC = 0x1;
/** `PROT_READ`: mapped pages may be read. */
export const PROT_READ = 0x1;
/** `PROT_WRITE`: mapped pages may be written. */
export const PROT_WRITE = 0x2;
/** `MAP_SHARED`: writes reach the file and every other mapping of it. */
export const MAP_SHARED = 0x01;
/** `MAP_FAILED`: what mmap() returns on failure, `(void *)-1`, as a pointer value. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

// <poll.h>
/** `POLLIN`: data to read. */
export const POLLIN = 0x1;
/** `POLLPRI`: urgent data to read. */
export const POLLPRI = 0x2;
/** `POLLOUT`: writing will not block. */
export const POLLOUT = 0x4;
/** `POLLERR`: error condition (output only). */
export const POLLERR = 0x8;
/** `POLLHUP`: hang up (output only). */
export const POLLHUP = 0x10;
/** `POLLNVAL`: fd not open (output only). */
export const POLLNVAL = 0x20;
/** `POLLRDHUP`: peer closed its writing half. */
export const POLLRDHUP = 0x2000;

// <sys/epoll.h>
/** `EPOLL_CLOEXEC`: epoll_create1() sets close-on-exec on the new fd. */
export const EPOLL_CLOEXEC = 0o2000000;
/** `EPOLL_CTL_ADD`: register an fd with an epoll instance. */
export const EPOLL_CTL_ADD = 1;
/** `EPOLL_CTL_DEL`: remove an fd from an epoll instance. */
export const EPOLL_CTL_DEL = 2;
/** `EPOLL_CTL_MOD`: change the events of a registered fd. */
export const EPOLL_CTL_MOD = 3;
/** `EPOLLIN`: data to read (or a connection to accept). */
export const EPOLLIN = 0x001;
/** `EPOLLOUT`: writing will not block. */
export const EPOLLOUT = 0x004;
/** `EPOLLERR`: error condition (always reported). */
export const EPOLLERR = 0x008;
/** `EPOLLHUP`: hang up (always reported). */
export const EPOLLHUP = 0x010;
/** `EPOLLRDHUP`: the peer closed its writing half. */
export const EPOLLRDHUP = 0x2000;

// <sys/eventfd.h>
/** `EFD_NONBLOCK`: eventfd() creates a non-blocking fd. */
export const EFD_NONBLOCK = 0o4000;
/** `EFD_CLOEXEC`: eventfd() sets close-on-exec on the new fd. */
export const EFD_CLOEXEC = 0o2000000;
