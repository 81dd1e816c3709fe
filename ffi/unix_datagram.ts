/**
 * Unix datagram sockets through libc, for systemd's notification protocol:
 * one datagram to a path or to an abstract name (`@name`), and a bound
 * receiver (what a test, or a supervisor, listens on).
 *
 * @module
 */

import {
  AF_UNIX,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
} from "./constants.ts";
import { check, EINTR, errno, errnoError } from "./errno.ts";
import { SOCKADDR_UN } from "./layout.ts";
import { libc } from "./libc.ts";

const encoder = new TextEncoder();

/** An encoded `struct sockaddr_un` and the length to pass with it. */
export interface UnixAddress {
  /** The struct's bytes, in an `ArrayBuffer` of their own. */
  readonly bytes: Uint8Array;
  /** `socklen_t`: the whole struct for a path, up to the name's end for an abstract name. */
  readonly length: number;
}

/**
 * Encodes a Unix socket address as `NOTIFY_SOCKET` gives it: a filesystem
 * path, or, when it starts with `@`, a name in the abstract namespace (the
 * `@` becomes the leading NUL, and the length ends at the name).
 *
 * @param address `/run/systemd/notify` or `@name`.
 * @returns The address and its length.
 * @throws {RangeError} When the address is empty or longer than 107 bytes.
 * @throws {TypeError} When it contains a NUL byte.
 */
export function encodeUnixAddress(address: string): UnixAddress {
  const abstract = address.startsWith("@");
  const name = encoder.encode(abstract ? address.slice(1) : address);
  const max = SOCKADDR_UN.pathMax - 1;
  if (name.length === 0 || name.length > max) {
    throw new RangeError(
      `Invalid Unix socket address: expected 1 to ${max} bytes, got ${name.length}: ${address}`,
    );
  }
  if (name.includes(0)) {
    throw new TypeError(
      `Invalid Unix socket address: it contains NUL: ${address}`,
    );
  }
  const bytes = new Uint8Array(new ArrayBuffer(SOCKADDR_UN.size));
  new DataView(bytes.buffer).setUint16(SOCKADDR_UN.family, AF_UNIX, true);
  // Abstract: sun_path[0] stays NUL and the name follows, not NUL-ended.
  bytes.set(name, SOCKADDR_UN.path + (abstract ? 1 : 0));
  const length = abstract
    ? SOCKADDR_UN.path + 1 + name.length
    : SOCKADDR_UN.size;
  return { bytes, length };
}

/**
 * Sends one datagram to a Unix datagram socket: `socket()`, `connect()`,
 * `send(MSG_NOSIGNAL | MSG_DONTWAIT)`, `close()`. Never blocks: a receiver
 * whose queue is full (a stuck service manager) makes it throw EAGAIN, so
 * the caller drops the message instead of the server stopping to wait.
 *
 * @param address A path, or `@name` for the abstract namespace.
 * @param message The datagram.
 * @throws {RangeError | TypeError} For a bad address.
 * @throws {ErrnoError} ENOENT or ECONNREFUSED when nothing is bound there,
 * EACCES, EMSGSIZE…
 * @throws {Deno.errors.WouldBlock} When its queue is full (EAGAIN).
 */
export function sendUnixDatagram(address: string, message: Uint8Array): void {
  const { bytes, length } = encodeUnixAddress(address);
  const c = libc();
  const fd = check(c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
  try {
    check(c.connect(fd, bytes, length), "connect", `to ${address}`);
    // A copy in an ArrayBuffer of its own: FFI buffers must not move.
    const data = new Uint8Array(new ArrayBuffer(message.byteLength));
    data.set(message);
    while (true) {
      const sent = c.send(
        fd,
        data,
        BigInt(data.byteLength),
        MSG_NOSIGNAL | MSG_DONTWAIT,
      );
      if (sent >= 0n) break;
      const n = errno();
      if (n !== EINTR) throw errnoError(n, "send", `to ${address}`);
    }
  } finally {
    c.close(fd);
  }
}

/**
 * Binds a non-blocking, close-on-exec Unix datagram socket to an address,
 * to receive datagrams (read each with `tryRead`: one read, one datagram).
 *
 * @param address A path (nothing may be there) or `@name`.
 * @returns The fd; the caller owns it (and the socket file at a path).
 * @throws {RangeError | TypeError} For a bad address.
 * @throws {ErrnoError} EADDRINUSE when the address is taken, EACCES…
 */
export function bindUnixDatagram(address: string): number {
  const { bytes, length } = encodeUnixAddress(address);
  const c = libc();
  const fd = check(
    c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    check(c.bind(fd, bytes, length), "bind", address);
    return fd;
  } catch (error) {
    c.close(fd);
    throw error;
  }
}
