/**
 * Unix stream sockets through libc: an owner-only listener that appears at
 * its path atomically, and a non-blocking connect.
 *
 * @module
 */

import {
  AF_UNIX,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./constants.ts";
import { check, errno, errnoError } from "./errno.ts";
import { SOCKADDR_UN } from "./layout.ts";
import { libc } from "./libc.ts";

const ENOENT = 2;
const EINTR = 4;

const encoder = new TextEncoder();

/** Options of {@linkcode listenUnix}. */
export interface ListenUnixOptions {
  /** Permission bits of the socket file. @default {0o600} */
  mode?: number;
  /** The listen queue length. @default {16} */
  backlog?: number;
}

/**
 * Encodes `struct sockaddr_un` for a filesystem path.
 *
 * @param path The path: 1 to 107 bytes of UTF-8, no NUL.
 * @returns The struct's bytes, in an `ArrayBuffer` of their own.
 * @throws {RangeError} When the path is empty or too long.
 * @throws {TypeError} When the path contains a NUL byte.
 */
export function encodeSockaddrUn(path: string): Uint8Array {
  const bytes = encoder.encode(path);
  if (bytes.length === 0 || bytes.length >= SOCKADDR_UN.pathMax) {
    throw new RangeError(
      `Invalid Unix socket path: expected 1 to ${
        SOCKADDR_UN.pathMax - 1
      } bytes, got ${bytes.length}: ${path}`,
    );
  }
  if (bytes.includes(0)) {
    throw new TypeError(`Invalid Unix socket path: it contains NUL: ${path}`);
  }
  const out = new Uint8Array(new ArrayBuffer(SOCKADDR_UN.size));
  new DataView(out.buffer).setUint16(SOCKADDR_UN.family, AF_UNIX, true);
  out.set(bytes, SOCKADDR_UN.path);
  return out;
}

function cString(path: string): Uint8Array {
  return encoder.encode(path + "\0");
}

/**
 * Removes a filesystem entry (a stale socket file) with `unlink()`.
 *
 * @param path The path.
 * @returns `true` if it was removed, `false` if it did not exist.
 * @throws {ErrnoError} On other failures (EACCES, EISDIR…).
 */
export function unlinkPath(path: string): boolean {
  if (libc().unlink(cString(path)) === 0) return true;
  const n = errno();
  if (n === ENOENT) return false;
  throw errnoError(n, "unlink", path);
}

/**
 * Listens on a Unix stream socket at `path`, non-blocking and close-on-exec,
 * with the socket file's mode set before anyone can connect: it binds a
 * temporary name beside `path` (`path` + `.` + pid), `chmod()`s it,
 * `listen()`s, then `rename()`s it over `path`. A socket file already at
 * `path` (a stale one, or the previous owner's) is replaced in one step, so
 * `path` never points to nothing and never to a socket with looser
 * permissions. The umask plays no part.
 *
 * Connecting needs write permission on the socket file: with mode 0600 only
 * its owner (and root) can connect.
 *
 * @param path Where the socket appears; at most 107 bytes with the suffix.
 * @param options Mode and backlog.
 * @returns The listening fd; the caller owns it (and the file at `path`).
 * @throws {RangeError} When the path (with the suffix) is too long.
 * @throws {ErrnoError} When a call fails (EACCES on the directory, ENOENT
 * for a missing directory…).
 */
export function listenUnix(
  path: string,
  options: ListenUnixOptions = {},
): number {
  const mode = options.mode ?? 0o600;
  const backlog = options.backlog ?? 16;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RangeError(`Invalid mode: expected 0 to 0o7777, got ${mode}`);
  }
  const temporary = `${path}.${Deno.pid}`;
  const sockaddr = encodeSockaddrUn(temporary);
  encodeSockaddrUn(path);
  const c = libc();
  const fd = check(
    c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
    "socket",
  );
  let bound = false;
  try {
    unlinkPath(temporary);
    check(c.bind(fd, sockaddr, sockaddr.byteLength), "bind", temporary);
    bound = true;
    check(c.chmod(cString(temporary), mode), "chmod", temporary);
    check(c.listen(fd, backlog), "listen", temporary);
    check(
      c.rename(cString(temporary), cString(path)),
      "rename",
      `${temporary} to ${path}`,
    );
    return fd;
  } catch (error) {
    c.close(fd);
    if (bound) c.unlink(cString(temporary));
    throw error;
  }
}

/**
 * Connects a non-blocking, close-on-exec Unix stream socket to `path`.
 * A Unix connect completes at once when the listener's queue has room.
 *
 * @param path The listener's path.
 * @returns The connected fd; the caller owns it.
 * @throws {Deno.errors.ConnectionRefused} When nothing listens there.
 * @throws {Deno.errors.WouldBlock} When the listener's queue is full (retry).
 * @throws {ErrnoError} ENOENT (no such file), EACCES (no write permission
 * on the socket file, or no search permission on a directory)…
 */
export function connectUnix(path: string): number {
  const sockaddr = encodeSockaddrUn(path);
  const c = libc();
  const fd = check(
    c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    while (true) {
      if (c.connect(fd, sockaddr, sockaddr.byteLength) === 0) return fd;
      const n = errno();
      if (n !== EINTR) throw errnoError(n, "connect", `to ${path}`);
    }
  } catch (error) {
    c.close(fd);
    throw error;
  }
}
