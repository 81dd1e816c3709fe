/**
 * An owner-only temporary directory through libc (`mkdtemp()`, `rmdir()`):
 * a place for a private Unix socket that needs no `--allow-write`, so a
 * server started with `--allow-ffi` alone can make one.
 *
 * @module
 */

import { ENOENT, errno, errnoError } from "./errno.ts";
import { libc } from "./libc.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The directory used when `TMPDIR` is unset or not readable. */
export const DEFAULT_TEMP_ROOT = "/tmp";

/** `TMPDIR` if this process may read it and it is absolute, else `/tmp`. */
export function tempRoot(): string {
  // Asking for an ungranted permission would prompt on a terminal.
  const state = Deno.permissions.querySync({ name: "env", variable: "TMPDIR" });
  const value = state.state === "granted" ? Deno.env.get("TMPDIR") : undefined;
  return value !== undefined && value.startsWith("/") && !value.includes("\0")
    ? value.replace(/\/+$/, "") || "/"
    : DEFAULT_TEMP_ROOT;
}

/**
 * Creates a fresh directory `ROOT/PREFIXxxxxxx` with mode 0700 (whatever the
 * umask), that no other process could have made or named in advance.
 *
 * @param prefix The start of its name: letters, digits, `.`, `_`, `-`.
 * @param root Where it goes. @default {tempRoot()}
 * @returns Its absolute path; the caller removes it.
 * @throws {TypeError} For a prefix with other characters.
 * @throws {ErrnoError} When `mkdtemp()` fails (EACCES, ENOENT, ENOSPC…).
 */
export function makePrivateDir(prefix: string, root = tempRoot()): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(prefix)) {
    throw new TypeError(
      `Invalid directory prefix "${prefix}": 1 to 64 letters, digits, ".", "_" or "-"`,
    );
  }
  const template = encoder.encode(`${root}/${prefix}XXXXXX\0`);
  const made = libc().mkdtemp(template);
  if (made === null) throw errnoError(errno(), "mkdtemp", `in ${root}`);
  return decoder.decode(template.subarray(0, template.length - 1));
}

/**
 * Removes an empty directory with `rmdir()`.
 *
 * @param path The directory.
 * @returns `true` if it was removed, `false` if it did not exist.
 * @throws {ErrnoError} On other failures (ENOTEMPTY, EACCES…).
 */
export function removeEmptyDir(path: string): boolean {
  const c = libc();
  if (c.rmdir(encoder.encode(path + "\0")) === 0) return true;
  const n = errno();
  if (n === ENOENT) return false;
  throw errnoError(n, "rmdir", path);
}
