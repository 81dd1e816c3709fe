/**
 * Typed `getsockopt()`/`setsockopt()` on a raw fd, for the options Deno does
 * not expose (keepalive timing, SO_LINGER, SO_REUSEPORT, SO_COOKIE,
 * SO_PEERCRED, ...).
 *
 * @module
 */

import {
  IPPROTO_TCP,
  SO_ACCEPTCONN,
  SO_COOKIE,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_PEERCRED,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOL_SOCKET,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_LINGER2,
  TCP_NODELAY,
} from "./constants.ts";
import { check } from "./errno.ts";
import { LINGER, UCRED } from "./layout.ts";
import { libc } from "./libc.ts";
import { describe, validateFd, validateInt32 } from "./_validate.ts";

/**
 * The `int`-valued socket options {@linkcode getSocketOption} and
 * {@linkcode setSocketOption} handle.
 *
 * `TCP_LINGER2` is how long, in seconds, a connection closed by this side may
 * wait in FIN-WAIT-2 for the peer's FIN once no fd refers to it. Measured on
 * Linux 6.18: it reads as the `net.ipv4.tcp_fin_timeout` sysctl (60) until
 * set; setting 0 restores that default, values above 120 are clamped to 120,
 * and any negative value reads back as -1 (skip FIN-WAIT-2: reset instead).
 * Accepted connections inherit the listener's value.
 */
export type SocketOption =
  | "SO_KEEPALIVE"
  | "SO_REUSEADDR"
  | "SO_REUSEPORT"
  | "SO_RCVBUF"
  | "SO_SNDBUF"
  | "SO_ACCEPTCONN"
  | "TCP_NODELAY"
  | "TCP_KEEPIDLE"
  | "TCP_KEEPINTVL"
  | "TCP_KEEPCNT"
  | "TCP_LINGER2";

/** Level and optname of each option. */
const OPTIONS: Readonly<
  Record<SocketOption, readonly [level: number, optname: number]>
> = Object
  .freeze({
    SO_KEEPALIVE: [SOL_SOCKET, SO_KEEPALIVE],
    SO_REUSEADDR: [SOL_SOCKET, SO_REUSEADDR],
    SO_REUSEPORT: [SOL_SOCKET, SO_REUSEPORT],
    SO_RCVBUF: [SOL_SOCKET, SO_RCVBUF],
    SO_SNDBUF: [SOL_SOCKET, SO_SNDBUF],
    SO_ACCEPTCONN: [SOL_SOCKET, SO_ACCEPTCONN],
    TCP_NODELAY: [IPPROTO_TCP, TCP_NODELAY],
    TCP_KEEPIDLE: [IPPROTO_TCP, TCP_KEEPIDLE],
    TCP_KEEPINTVL: [IPPROTO_TCP, TCP_KEEPINTVL],
    TCP_KEEPCNT: [IPPROTO_TCP, TCP_KEEPCNT],
    TCP_LINGER2: [IPPROTO_TCP, TCP_LINGER2],
  });

function lookup(option: SocketOption): readonly [number, number] {
  // Object.hasOwn keeps "toString" and friends out for untyped callers.
  const entry = Object.hasOwn(OPTIONS, option) ? OPTIONS[option] : undefined;
  if (entry === undefined) {
    throw new TypeError(`Invalid socket option: ${JSON.stringify(option)}`);
  }
  return entry;
}

/**
 * Reads an `int`-valued socket option.
 *
 * @example
 * ```ts ignore
 * const idle = getSocketOption(fd, "TCP_KEEPIDLE"); // seconds
 * ```
 *
 * @param fd The socket's file descriptor.
 * @param option The option.
 * @returns The value (booleans as 0 or 1; `SO_RCVBUF`/`SO_SNDBUF` in bytes,
 * as the kernel doubled them; `TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_LINGER2`
 * in seconds).
 * @throws {TypeError | RangeError} On a bad `fd` or unknown `option`.
 * @throws {ErrnoError} When `getsockopt()` fails, such as EBADF or ENOTSOCK.
 */
export function getSocketOption(fd: number, option: SocketOption): number {
  validateFd(fd);
  const [level, optname] = lookup(option);
  const value = new Int32Array(1);
  const length = new Uint32Array([value.byteLength]);
  check(
    libc().getsockopt(fd, level, optname, value, length),
    "getsockopt",
    `${option} on fd ${fd}`,
  );
  return value[0] ?? 0;
}

/**
 * Sets an `int`-valued socket option.
 *
 * @example
 * ```ts ignore
 * setSocketOption(fd, "SO_KEEPALIVE", 1);
 * setSocketOption(fd, "TCP_KEEPIDLE", 30); // seconds
 * ```
 *
 * @param fd The socket's file descriptor.
 * @param option The option.
 * @param value An integer in the C `int` range (0 or 1 for flags).
 * @throws {TypeError | RangeError} On a bad `fd`, `option` or `value`.
 * @throws {ErrnoError} When `setsockopt()` fails, such as EBADF or EINVAL.
 */
export function setSocketOption(
  fd: number,
  option: SocketOption,
  value: number,
): void {
  validateFd(fd);
  const [level, optname] = lookup(option);
  validateInt32(value, `value for ${option}`);
  const buffer = new Int32Array([value]);
  check(
    libc().setsockopt(fd, level, optname, buffer, buffer.byteLength),
    "setsockopt",
    `${option} on fd ${fd}`,
  );
}

/** The `SO_LINGER` setting: what `close()` does with unsent data. */
export interface Linger {
  /** `l_onoff`: whether close() lingers (or, with 0 seconds, resets). */
  enabled: boolean;
  /** `l_linger`: how long close() may block, in seconds; 0 means send RST. */
  seconds: number;
}

/**
 * Reads `SO_LINGER`.
 *
 * @param fd The socket's file descriptor.
 * @returns The setting; `{ enabled: false, seconds: 0 }` by default.
 * @throws {ErrnoError} When `getsockopt()` fails.
 */
export function getLinger(fd: number): Linger {
  validateFd(fd);
  const buffer = new Uint8Array(LINGER.size);
  const length = new Uint32Array([buffer.byteLength]);
  check(
    libc().getsockopt(fd, SOL_SOCKET, SO_LINGER, buffer, length),
    "getsockopt",
    `SO_LINGER on fd ${fd}`,
  );
  const view = new DataView(buffer.buffer);
  return {
    enabled: view.getInt32(LINGER.onoff, true) !== 0,
    seconds: view.getInt32(LINGER.linger, true),
  };
}

/**
 * Sets `SO_LINGER`. `{ enabled: true, seconds: 0 }` makes `close()` send an
 * RST and drop unsent data; note that Deno's `conn.close()` sends a FIN
 * (shutdown) first regardless.
 *
 * @param fd The socket's file descriptor.
 * @param linger The setting; `seconds` is an integer in 0…2^31-1.
 * @throws {TypeError | RangeError} On a bad `fd` or `linger`.
 * @throws {ErrnoError} When `setsockopt()` fails.
 */
export function setLinger(fd: number, linger: Linger): void {
  validateFd(fd);
  if (
    typeof linger !== "object" || linger === null ||
    typeof linger.enabled !== "boolean"
  ) {
    throw new TypeError(
      `Invalid linger: expected { enabled: boolean, seconds: number }`,
    );
  }
  validateInt32(linger.seconds, "linger seconds");
  if (linger.seconds < 0) {
    throw new RangeError(
      `Invalid linger seconds: expected 0 or more, got ${
        describe(linger.seconds)
      }`,
    );
  }
  const buffer = new Uint8Array(LINGER.size);
  const view = new DataView(buffer.buffer);
  view.setInt32(LINGER.onoff, linger.enabled ? 1 : 0, true);
  view.setInt32(LINGER.linger, linger.seconds, true);
  check(
    libc().setsockopt(fd, SOL_SOCKET, SO_LINGER, buffer, buffer.byteLength),
    "setsockopt",
    `SO_LINGER on fd ${fd}`,
  );
}

/**
 * Reads `SO_COOKIE`: a 64-bit id the kernel gives each socket, unique until
 * reboot. Compare it to tell whether an fd number still names the socket
 * you found earlier, since fd numbers are reused.
 *
 * @param fd The socket's file descriptor.
 * @returns The cookie.
 * @throws {ErrnoError} When `getsockopt()` fails.
 */
export function getSocketCookie(fd: number): bigint {
  validateFd(fd);
  const value = new BigUint64Array(1);
  const length = new Uint32Array([value.byteLength]);
  check(
    libc().getsockopt(fd, SOL_SOCKET, SO_COOKIE, value, length),
    "getsockopt",
    `SO_COOKIE on fd ${fd}`,
  );
  return value[0] ?? 0n;
}

/** The credentials of a Unix socket's peer, from `SO_PEERCRED`. */
export interface PeerCredentials {
  /** The peer's process id when it connected (or created the socketpair). */
  pid: number;
  /** The peer's effective user id then. */
  uid: number;
  /** The peer's effective group id then. */
  gid: number;
}

/**
 * Reads `SO_PEERCRED` of a connected Unix socket.
 *
 * @param fd The socket's file descriptor.
 * @returns The peer's pid, uid and gid as of `connect()`/`socketpair()`.
 * @throws {ErrnoError} When `getsockopt()` fails.
 */
export function getPeerCredentials(fd: number): PeerCredentials {
  validateFd(fd);
  const buffer = new Uint8Array(UCRED.size);
  const length = new Uint32Array([buffer.byteLength]);
  check(
    libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buffer, length),
    "getsockopt",
    `SO_PEERCRED on fd ${fd}`,
  );
  const view = new DataView(buffer.buffer);
  return {
    pid: view.getInt32(UCRED.pid, true),
    uid: view.getUint32(UCRED.uid, true),
    gid: view.getUint32(UCRED.gid, true),
  };
}
