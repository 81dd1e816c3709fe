/**
 * Raw, non-blocking TCP sockets that our code owns by fd: listen, accept,
 * read, send and close through libc, for sockets that must outlive the
 * process that opened them (handed over by SCM_RIGHTS). Deno's own sockets
 * cannot be used for that: `conn.close()` always sends a FIN.
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./constants.ts";
import {
  check,
  EAGAIN,
  ECONNABORTED,
  EINTR,
  EPROTO,
  errno,
  errnoError,
} from "./errno.ts";
import { libc } from "./libc.ts";
import {
  encodeSockaddr,
  getSockName,
  parseIp,
  type SocketAddress,
} from "./sockaddr.ts";
import { setSocketOption } from "./socket_options.ts";
import { validateFd, validateInt32 } from "./_validate.ts";

/** Options of {@linkcode listenTcp}. */
export interface ListenTcpOptions {
  /** An IP literal: `"127.0.0.1"`, `"0.0.0.0"`, `"::1"`, `"::"` (dual-stack). */
  hostname: string;
  /** The port; 0 picks a free one (read it from the result). */
  port: number;
  /** The listen queue length (the kernel caps it at `net.core.somaxconn`). @default {511} */
  backlog?: number;
  /** Set `SO_REUSEADDR`, as Deno's listeners do. @default {true} */
  reuseAddr?: boolean;
  /** Set `SO_REUSEPORT`, so several listeners share the port. @default {false} */
  reusePort?: boolean;
}

/** A listening socket made by {@linkcode listenTcp}. */
export interface RawListener {
  /** Its fd: non-blocking, close-on-exec. The caller owns it. */
  readonly fd: number;
  /** The bound address, with the real port when 0 was asked for. */
  readonly address: SocketAddress;
}

/**
 * Opens a non-blocking, close-on-exec TCP listener through libc:
 * `socket()`, `SO_REUSEADDR` (and `SO_REUSEPORT` if asked), `bind()`,
 * `listen()`. For `"::"`, `IPV6_V6ONLY` is cleared so IPv4 clients are
 * accepted too, as by Deno.
 *
 * @param options Address, port, backlog.
 * @returns The fd and the bound address.
 * @throws {TypeError} When `hostname` is not an IP literal.
 * @throws {RangeError} When `port` or `backlog` is out of range.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 * @throws {Deno.errors.AddrNotAvailable} When the address is not local.
 * @throws {ErrnoError} When another call fails (EMFILE, EACCES for ports < 1024).
 */
export function listenTcp(options: ListenTcpOptions): RawListener {
  const backlog = options.backlog ?? 511;
  validateInt32(backlog, "backlog");
  if (backlog < 1) {
    throw new RangeError(
      `Invalid backlog: expected at least 1, got ${backlog}`,
    );
  }
  return bindTcp({
    hostname: options.hostname,
    port: options.port,
    reuseAddr: options.reuseAddr ?? true,
    reusePort: options.reusePort ?? false,
    then: (fd) => check(libc().listen(fd, backlog), "listen", `on fd ${fd}`),
  });
}

/** Options of {@linkcode bindTcp}. */
export interface BindTcpOptions {
  /** An IP literal; `"::"` is dual-stack (`IPV6_V6ONLY` cleared). */
  hostname: string;
  /** The port; 0 picks a free one. */
  port: number;
  /** Set `SO_REUSEADDR` before `bind()`. */
  reuseAddr: boolean;
  /** Set `SO_REUSEPORT` before `bind()`. */
  reusePort: boolean;
  /** Runs on the bound fd before its address is read (`listen()`, an option); a throw closes the fd. */
  then?: (fd: number) => void;
}

/**
 * A non-blocking, close-on-exec TCP socket bound to an address: the part
 * that {@linkcode listenTcp} and `PortReservation` share. The fd is closed
 * if any step fails.
 *
 * @returns The fd and the bound address (the real port for port 0).
 * @throws {TypeError} When `hostname` is not an IP literal.
 * @throws {RangeError} When `port` is out of range.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 * @throws {ErrnoError} When another call fails.
 */
export function bindTcp(options: BindTcpOptions): RawListener {
  const bytes = parseIp(options.hostname);
  const family = bytes.length === 4 ? "ipv4" : "ipv6";
  // Validates the port too, before any fd exists.
  const sockaddr = encodeSockaddr({
    family,
    address: bytes,
    port: options.port,
  });
  const c = libc();
  const fd = check(
    c.socket(
      family === "ipv4" ? AF_INET : AF_INET6,
      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
      0,
    ),
    "socket",
  );
  try {
    if (family === "ipv6" && bytes.every((byte) => byte === 0)) {
      const off = new Int32Array([0]);
      check(
        c.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, off, off.byteLength),
        "setsockopt",
        `IPV6_V6ONLY on fd ${fd}`,
      );
    }
    if (options.reuseAddr) setSocketOption(fd, "SO_REUSEADDR", 1);
    if (options.reusePort) setSocketOption(fd, "SO_REUSEPORT", 1);
    check(
      c.bind(fd, sockaddr, sockaddr.byteLength),
      "bind",
      `${
        family === "ipv6" ? `[${options.hostname}]` : options.hostname
      }:${options.port} on fd ${fd}`,
    );
    options.then?.(fd);
    const address = getSockName(fd);
    if (address === null) {
      throw new Error(`Cannot read the bound address of fd ${fd}`);
    }
    return { fd, address };
  } catch (error) {
    c.close(fd);
    throw error;
  }
}

/**
 * Accepts one connection from a non-blocking listener with `accept4()`; the
 * new fd is non-blocking and close-on-exec. A connection that was reset
 * while it waited (ECONNABORTED, EPROTO) and an interrupted call (EINTR)
 * are skipped, and the next one is tried.
 *
 * @param listenFd A listening socket's fd.
 * @returns The new fd, or `null` when no connection is waiting (EAGAIN).
 * @throws {ErrnoError} On other failures, such as EMFILE (out of fds: the
 * connection stays in the queue) or EBADF.
 */
export function acceptSocket(listenFd: number): number | null {
  const c = libc();
  while (true) {
    const fd = c.accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    const n = errno();
    if (n === EAGAIN) return null;
    if (n === EINTR || n === ECONNABORTED || n === EPROTO) continue;
    throw errnoError(n, "accept4", `on fd ${listenFd}`);
  }
}

/**
 * Reads what a non-blocking socket has, up to `buffer.length` bytes.
 *
 * @param fd The socket.
 * @param buffer Where the bytes go.
 * @returns The count read, 0 at end of file, or `null` when nothing is
 * there yet (EAGAIN).
 * @throws {Deno.errors.ConnectionReset} When the peer reset the connection.
 * @throws {ErrnoError} On other failures (EBADF, ETIMEDOUT from keepalive…).
 */
export function readSocket(fd: number, buffer: Uint8Array): number | null {
  const c = libc();
  while (true) {
    const rc = c.read(fd, buffer, BigInt(buffer.byteLength));
    if (rc >= 0n) return Number(rc);
    const n = errno();
    if (n === EAGAIN) return null;
    if (n === EINTR) continue;
    throw errnoError(n, "read", `on fd ${fd}`);
  }
}

/**
 * Sends what fits of `bytes` on a non-blocking socket, with `MSG_NOSIGNAL`
 * (a closed peer gives EPIPE, never SIGPIPE).
 *
 * @param fd The socket.
 * @param bytes The bytes to send.
 * @returns The count sent (maybe fewer than asked), or `null` when the send
 * buffer is full (EAGAIN).
 * @throws {Deno.errors.BrokenPipe} When the peer has gone (EPIPE).
 * @throws {Deno.errors.ConnectionReset} When the peer reset the connection.
 * @throws {ErrnoError} On other failures.
 */
export function sendSocket(fd: number, bytes: Uint8Array): number | null {
  const c = libc();
  while (true) {
    const rc = c.send(
      fd,
      bytes,
      BigInt(bytes.byteLength),
      MSG_NOSIGNAL | MSG_DONTWAIT,
    );
    if (rc >= 0n) return Number(rc);
    const n = errno();
    if (n === EAGAIN) return null;
    if (n === EINTR) continue;
    throw errnoError(n, "send", `on fd ${fd}`);
  }
}

/**
 * Closes an fd with `close()` alone, never `shutdown()`: a socket another
 * process also holds (after SCM_RIGHTS) stays fully open there, and no FIN
 * is sent. When this was the last reference, the kernel closes the
 * connection as usual (FIN, or RST if unread data remains).
 *
 * @param fd The fd; EBADF (already closed) is ignored.
 */
export function closeFd(fd: number): void {
  validateFd(fd);
  // Linux releases the fd even when close() reports EINTR: never retry.
  libc().close(fd);
}
