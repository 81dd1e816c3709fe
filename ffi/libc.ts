/**
 * The one `Deno.dlopen` of libc in tcpkit, opened lazily on first use.
 *
 * @module
 */

import { LIBC_SYMBOLS } from "./symbols.ts";

/** The typed foreign functions of libc, as declared in {@linkcode LIBC_SYMBOLS}. */
export type LibcSymbols = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** The library name used unless `TCPKIT_LIBC_PATH` is set. */
export const DEFAULT_LIBC_PATH = "libc.so.6";

/** The environment variable that overrides the path given to `Deno.dlopen`. */
export const LIBC_PATH_ENV = "TCPKIT_LIBC_PATH";

let library: Deno.DynamicLibrary<typeof LIBC_SYMBOLS> | undefined;

/**
 * Returns libc's symbols, opening the library on the first call so that a
 * program which never needs libc pays nothing (not even the permission).
 *
 * The path is `TCPKIT_LIBC_PATH` when set and readable, else `libc.so.6`.
 * With a scoped `--allow-ffi=PATH`, set `TCPKIT_LIBC_PATH` to the same
 * absolute path: Deno compares the two literally.
 *
 * @example Call getpid()
 * ```ts
 * import { libc } from "./libc.ts";
 *
 * const pid = libc().getpid();
 * console.log(pid === Deno.pid);
 * ```
 *
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` (passed through untouched).
 * @throws {Error} "Cannot load libc: …" when the library cannot be opened
 * (the message says tcpkit needs Linux with glibc; the original error is the
 * `cause`), or at once on a system other than Linux.
 * @returns The symbols of the opened library.
 */
export function libc(): LibcSymbols {
  if (library === undefined) library = open(libcPath());
  return library.symbols;
}

function libcPath(): string {
  try {
    const path = Deno.env.get(LIBC_PATH_ENV);
    if (path !== undefined && path !== "") return path;
  } catch {
    // No --allow-env: the override is optional, so fall back quietly.
  }
  return DEFAULT_LIBC_PATH;
}

/** Why libc is not loaded: anything but Linux with glibc. */
const SUPPORTED = "tcpkit's libc layer needs Linux with glibc (libc.so.6); " +
  "musl (Alpine) and other systems are not supported";

function open(path: string): Deno.DynamicLibrary<typeof LIBC_SYMBOLS> {
  if (Deno.build.os !== "linux") {
    throw new Error(`Cannot load libc: ${SUPPORTED}; this is ${Deno.build.os}`);
  }
  try {
    return Deno.dlopen(path, LIBC_SYMBOLS);
  } catch (error) {
    // Permission problems are the caller's to report, with Deno's own message.
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      throw error;
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot load libc: ${path}: ${message} (${SUPPORTED})`, {
      cause: error,
    });
  }
}
