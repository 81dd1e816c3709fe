/**
 * What kind of file is at a path, without following a final symbolic link
 * and without `--allow-read`: `statx()` through libc.
 *
 * @module
 */

import { EINTR, ENOENT, errno, errnoError } from "./errno.ts";
import { libc } from "./libc.ts";

// <fcntl.h> and <sys/stat.h>; checked against the headers in the test.
/** `AT_FDCWD`: resolve a relative path from the working directory. */
export const AT_FDCWD = -100;
/** `AT_SYMLINK_NOFOLLOW`: describe a final symbolic link, not its target. */
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** `STATX_TYPE`: ask for the file type bits of `stx_mode`. */
export const STATX_TYPE = 0x1;
/** `S_IFMT`: the file type bits of a mode. */
export const S_IFMT = 0o170000;

/** Byte size of `struct statx`, the same on every architecture. */
const STATX_SIZE = 256;
/** Offset of `__u16 stx_mode` in `struct statx`. */
const STATX_MODE = 28;

/** The type of a filesystem entry. */
export type FileType =
  | "socket"
  | "symbolic link"
  | "regular file"
  | "block device"
  | "directory"
  | "character device"
  | "fifo"
  | "unknown";

const TYPES: ReadonlyMap<number, FileType> = new Map([
  [0o140000, "socket"],
  [0o120000, "symbolic link"],
  [0o100000, "regular file"],
  [0o060000, "block device"],
  [0o040000, "directory"],
  [0o020000, "character device"],
  [0o010000, "fifo"],
]);

// Scratch out-parameter, reused: the call is synchronous.
const buffer = new Uint8Array(new ArrayBuffer(STATX_SIZE));
const view = new DataView(buffer.buffer);
const encoder = new TextEncoder();

/**
 * Returns the type of the entry at `path`; a symbolic link is reported as
 * one, not followed.
 *
 * @example
 * ```ts ignore
 * if (fileTypeAt("/run/app.sock") === "regular file") throw new Error("…");
 * ```
 *
 * @param path The path.
 * @returns Its type, or `null` when nothing is there (ENOENT).
 * @throws {TypeError} When the path contains a NUL byte.
 * @throws {ErrnoError} On other failures: EACCES (no search permission on a
 * directory on the way), ENOTDIR, ELOOP, ENAMETOOLONG.
 */
export function fileTypeAt(path: string): FileType | null {
  if (path.includes("\0")) {
    throw new TypeError(`Invalid path: it contains NUL: ${path}`);
  }
  const name = encoder.encode(path + "\0");
  const c = libc();
  while (true) {
    if (
      c.statx(AT_FDCWD, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, buffer) === 0
    ) {
      const mode = view.getUint16(STATX_MODE, true);
      return TYPES.get(mode & S_IFMT) ?? "unknown";
    }
    const n = errno();
    if (n === ENOENT) return null;
    if (n !== EINTR) throw errnoError(n, "statx", path);
  }
}
