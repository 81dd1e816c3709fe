/**
 * Unix stream sockets through libc: an owner-only listener that appears at
 * its path atomically and replaces nothing but a stale socket, and a
 * non-blocking connect.
 *
 * @module
 */

import {
  AF_UNIX,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./constants.ts";
import {
  check,
  EADDRINUSE,
  EAGAIN,
  ECONNREFUSED,
  EEXIST,
  EINTR,
  ENOENT,
  errno,
  errnoError,
} from "./errno.ts";
import { type FileType, fileTypeAt } from "./file_type.ts";
import { SOCKADDR_UN } from "./layout.ts";
import { libc } from "./libc.ts";
import { getPeerCredentials, type PeerCredentials } from "./socket_options.ts";

const encoder = new TextEncoder();

/** Options of {@linkcode listenUnix}. */
export interface ListenUnixOptions {
  /** Permission bits of the socket file. @default {0o600} */
  mode?: number;
  /** The listen queue length. @default {16} */
  backlog?: number;
  /**
   * Whether a socket a server still listens on at the path may be replaced,
   * given that server's credentials (`null`: its queue is full). By
   * default it may not.
   */
  replaceLive?: (peer: PeerCredentials | null) => boolean;
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

/** What is at a path where a Unix socket is to listen. */
export type UnixPathState =
  | {
    /** Nothing. */
    readonly kind: "none";
  }
  | {
    /** A socket file nobody listens on (ECONNREFUSED): safe to replace. */
    readonly kind: "stale";
  }
  | {
    /**
     * A socket somebody listens on: its `SO_PEERCRED` (the process that
     * called `listen()`), or `null` when its queue is full.
     */
    readonly kind: "live";
    readonly peer: PeerCredentials | null;
  }
  | {
    /** Anything else: a regular file, a directory, a symbolic link… */
    readonly kind: "other";
    readonly type: FileType;
  };

/**
 * Finds out what is at `path`: nothing, a stale socket, a live one (and
 * whose), or something that is not a socket. A socket is told live or
 * stale by connecting to it, so a live server sees a connection that closes
 * at once.
 *
 * @param path The path.
 * @returns What is there.
 * @throws {ErrnoError} When the path cannot be looked at or connected to
 * (EACCES…).
 */
export function probeUnixPath(path: string): UnixPathState {
  const type = fileTypeAt(path);
  if (type === null) return { kind: "none" };
  if (type !== "socket") return { kind: "other", type };
  const sockaddr = encodeSockaddrUn(path);
  const c = libc();
  const fd = check(
    c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    while (true) {
      if (c.connect(fd, sockaddr, sockaddr.byteLength) === 0) {
        return { kind: "live", peer: getPeerCredentials(fd) };
      }
      const n = errno();
      if (n === EINTR) continue;
      if (n === ECONNREFUSED) return { kind: "stale" };
      // A full queue: somebody listens, but is not accepting right now.
      if (n === EAGAIN) return { kind: "live", peer: null };
      // Removed between the look and the connect.
      if (n === ENOENT) return { kind: "none" };
      throw errnoError(n, "connect", `to ${path}`);
    }
  } finally {
    c.close(fd);
  }
}

/**
 * Listens on a Unix stream socket at `path`, non-blocking and close-on-exec,
 * with the socket file's mode set before anyone can connect: it binds a
 * temporary name beside `path` (`path` + `.` + pid), `chmod()`s it,
 * `listen()`s, and only then gives it the name `path`. The umask plays no
 * part, and `path` never names a socket with looser permissions.
 *
 * Only a stale socket file (nobody listens on it) is replaced. Anything
 * else at `path` is refused rather than lost: a regular file, a directory
 * or a link, and a socket a server still listens on (unless `replaceLive`
 * says so: the server taken over from, which is going away). Where nothing
 * is, the name is given with `link()`, which never replaces what appeared
 * meanwhile.
 *
 * Connecting needs write permission on the socket file: with mode 0600 only
 * its owner (and root) can connect.
 *
 * @param path Where the socket appears; at most 107 bytes with the suffix.
 * @param options Mode, backlog, and which live socket may be replaced.
 * @returns The listening fd; the caller owns it (and the file at `path`).
 * @throws {RangeError} When the path (with the suffix) is too long.
 * @throws {Deno.errors.AlreadyExists} When something other than a socket is
 * at `path` (or at the temporary name).
 * @throws {Deno.errors.AddrInUse} When a server listens at `path`.
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
    bindReplacingStale(fd, sockaddr, temporary);
    bound = true;
    check(c.chmod(cString(temporary), mode), "chmod", temporary);
    check(c.listen(fd, backlog), "listen", temporary);
    // Bounded: each round either finishes or saw `path` change under it.
    for (let round = 0; round < 3; round++) {
      const state = probeUnixPath(path);
      switch (state.kind) {
        case "none": {
          if (c.link(cString(temporary), cString(path)) === 0) {
            c.unlink(cString(temporary));
            return fd;
          }
          const n = errno();
          if (n !== EEXIST) {
            throw errnoError(n, "link", `${temporary} to ${path}`);
          }
          continue;
        }
        case "stale":
          unlinkPath(path);
          continue;
        case "live": {
          if (options.replaceLive?.(state.peer) !== true) {
            const who = state.peer === null
              ? "its queue is full"
              : `pid ${state.peer.pid}, uid ${state.peer.uid}`;
            throw new Deno.errors.AddrInUse(
              `Cannot listen on ${path}: a server listens there (${who})`,
            );
          }
          check(
            c.rename(cString(temporary), cString(path)),
            "rename",
            `${temporary} to ${path}`,
          );
          return fd;
        }
        case "other":
          throw new Deno.errors.AlreadyExists(
            `Cannot listen on ${path}: a ${state.type} is there, not a stale socket; remove it first`,
          );
      }
    }
    throw new Deno.errors.AddrInUse(
      `Cannot listen on ${path}: it kept changing while we looked`,
    );
  } catch (error) {
    c.close(fd);
    if (bound) c.unlink(cString(temporary));
    throw error;
  }
}

/** Binds `fd` to `path`, first removing a socket file left there (a crash). */
function bindReplacingStale(
  fd: number,
  sockaddr: Uint8Array,
  path: string,
): void {
  const c = libc();
  if (c.bind(fd, sockaddr, sockaddr.byteLength) === 0) return;
  const n = errno();
  if (n !== EADDRINUSE) throw errnoError(n, "bind", path);
  const type = fileTypeAt(path);
  if (type !== null && type !== "socket") {
    throw new Deno.errors.AlreadyExists(
      `Cannot bind ${path}: a ${type} is there, not a stale socket; remove it first`,
    );
  }
  // Our own pid's name: a socket there is a leftover of an earlier run.
  unlinkPath(path);
  check(c.bind(fd, sockaddr, sockaddr.byteLength), "bind", path);
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
