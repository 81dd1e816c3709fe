/**
 * Finds the epoll instances open in this process: Deno's own event loop
 * waits on one, so an fd of it tells when Deno has I/O to handle. A
 * process may run several runtimes (workers, parallel test modules), each
 * with its own; the one watching a given socket is that socket's runtime.
 *
 * @module
 */

import { O_CLOEXEC, O_DIRECTORY, O_RDONLY } from "./constants.ts";
import { check } from "./errno.ts";
import { LINUX_DIRENT64 } from "./layout.ts";
import { libc } from "./libc.ts";

const EPOLL_LINK = "anon_inode:[eventpoll]";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Lists the fds of this process that refer to an epoll instance, in
 * ascending order, leaving out `exclude`. It reads `/proc/self/fd` through
 * libc (`getdents64()` and `readlink()`), because Deno's own file API wants
 * `--allow-all` for `/proc`.
 *
 * Deno (tokio) creates its epoll instance before any user code runs, so
 * the list includes it; an instance may appear twice (dup'ed fds). The
 * numbers are only good until the next close: use them at once.
 *
 * @param exclude Fds to leave out, e.g. one's own epoll instances.
 * @returns The epoll fds.
 * @throws {ErrnoError} When `/proc/self/fd` cannot be read (no procfs).
 */
export function epollFds(exclude: Iterable<number> = []): number[] {
  const c = libc();
  const skip = new Set(exclude);
  const dir = check(
    c.open(
      encoder.encode("/proc/self/fd\0"),
      O_RDONLY | O_DIRECTORY | O_CLOEXEC,
      0,
    ),
    "open",
    "/proc/self/fd",
  );
  const found: number[] = [];
  try {
    skip.add(dir);
    const records = new Uint8Array(32768);
    const view = new DataView(records.buffer);
    const link = new Uint8Array(64);
    while (true) {
      const size = Number(
        c.getdents64(dir, records, BigInt(records.byteLength)),
      );
      check(size, "getdents64", "/proc/self/fd");
      if (size === 0) break;
      for (let offset = 0; offset < size;) {
        const length = view.getUint16(offset + LINUX_DIRENT64.reclen, true);
        const nameStart = offset + LINUX_DIRENT64.name;
        const nameEnd = records.indexOf(0, nameStart);
        offset += length;
        const name = decoder.decode(records.subarray(nameStart, nameEnd));
        if (!/^\d+$/.test(name)) continue; // "." and ".."
        const fd = Number(name);
        if (skip.has(fd)) continue;
        const n = Number(
          c.readlink(
            encoder.encode(`/proc/self/fd/${fd}\0`),
            link,
            BigInt(link.byteLength),
          ),
        );
        // A failed readlink: the fd closed meanwhile; not ours to report.
        if (n > 0 && decoder.decode(link.subarray(0, n)) === EPOLL_LINK) {
          found.push(fd);
        }
      }
    }
  } finally {
    c.close(dir);
  }
  return found.sort((a, b) => a - b);
}

/**
 * Lists the epoll fds (from {@linkcode epollFds}) that watch `fd`, read from
 * `/proc/self/fdinfo`: given a socket Deno owns, the epoll of the runtime
 * (the thread) that owns it.
 *
 * @param fd A watched fd, such as a Deno socket's (see `socketFdOf`).
 * @param exclude Epoll fds to leave out.
 * @returns The epoll fds watching `fd`, ascending; empty if none does.
 * @throws {ErrnoError} When `/proc/self/fd` cannot be read (no procfs).
 */
export function epollFdsWatching(
  fd: number,
  exclude: Iterable<number> = [],
): number[] {
  const line = new RegExp(`^tfd:\\s+${fd}\\s`, "m");
  return epollFds(exclude).filter((epfd) => {
    const info = readSmallFile(`/proc/self/fdinfo/${epfd}`);
    return info !== null && line.test(info);
  });
}

// fdinfo of an epoll is one line per watched fd: a busy runtime's may be
// long, so read it whole, in pieces.
const MAX_FDINFO = 64 << 20;

function readSmallFile(path: string): string | null {
  const c = libc();
  const fd = c.open(encoder.encode(`${path}\0`), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return null; // closed meanwhile
  try {
    const chunk = new Uint8Array(65536);
    const parts: string[] = [];
    const textDecoder = new TextDecoder();
    for (let total = 0; total < MAX_FDINFO;) {
      const n = Number(c.read(fd, chunk, BigInt(chunk.byteLength)));
      if (n <= 0) break;
      parts.push(textDecoder.decode(chunk.subarray(0, n), { stream: true }));
      total += n;
    }
    return parts.join("");
  } finally {
    c.close(fd);
  }
}
