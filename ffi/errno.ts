/**
 * errno: reading it, naming it, and turning failed libc calls into errors.
 *
 * @module
 */

import { libc } from "./libc.ts";

/**
 * errno numbers of Linux (the generic table, shared by x86_64 and aarch64)
 * mapped to their symbolic names; the ones socket code meets.
 */
export const ERRNO_CODES: Readonly<Record<number, string>> = Object.freeze({
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  32: "EPIPE",
  88: "ENOTSOCK",
  89: "EDESTADDRREQ",
  90: "EMSGSIZE",
  91: "EPROTOTYPE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
});

/** The code given to errno numbers missing from {@linkcode ERRNO_CODES}. */
export const UNKNOWN_ERRNO_CODE = "UNKNOWN";

/**
 * Returns the symbolic name of an errno number, such as `"EBADF"` for 9, or
 * `"UNKNOWN"` when it is not in {@linkcode ERRNO_CODES}.
 *
 * @param errno The errno number.
 * @returns The symbolic name.
 */
export function errnoCode(errno: number): string {
  return ERRNO_CODES[errno] ?? UNKNOWN_ERRNO_CODE;
}

/** The Deno error classes that a failed call maps to, as the runtime does. */
const DENO_ERRORS: Readonly<
  Record<string, new (message: string, options?: ErrorOptions) => Error>
> = {
  EADDRINUSE: Deno.errors.AddrInUse,
  EADDRNOTAVAIL: Deno.errors.AddrNotAvailable,
  ECONNREFUSED: Deno.errors.ConnectionRefused,
  ECONNRESET: Deno.errors.ConnectionReset,
  ECONNABORTED: Deno.errors.ConnectionAborted,
  EAGAIN: Deno.errors.WouldBlock,
  EPIPE: Deno.errors.BrokenPipe,
  ENOTCONN: Deno.errors.NotConnected,
  ETIMEDOUT: Deno.errors.TimedOut,
  EINTR: Deno.errors.Interrupted,
};

/** Options of {@linkcode ErrnoError}. */
export interface ErrnoErrorOptions extends ErrorOptions {
  /** The message; defaults to `"Cannot <syscall>: <code> (errno <n>)"`. */
  message?: string;
}

/**
 * A failed libc call whose errno has no `Deno.errors` equivalent.
 *
 * @example Catch a bad file descriptor
 * ```ts ignore
 * import { ErrnoError, setSocketOption } from "./mod.ts";
 *
 * try {
 *   setSocketOption(fd, "TCP_NODELAY", 1);
 * } catch (error) {
 *   if (error instanceof ErrnoError && error.code === "EBADF") console.log("closed");
 *   else throw error;
 * }
 * ```
 */
export class ErrnoError extends Error {
  /** The errno number, such as `9`. */
  readonly errno: number;
  /** The symbolic errno name, such as `"EBADF"`, or `"UNKNOWN"`. */
  readonly code: string;
  /** The libc function that failed, such as `"setsockopt"`. */
  readonly syscall: string;
  /** Always `"ErrnoError"`. */
  override name = "ErrnoError";

  /**
   * Makes an error for a failed call.
   *
   * @param errno The errno number read right after the call.
   * @param syscall The libc function that failed.
   * @param options The message (optional) and `cause`.
   */
  constructor(errno: number, syscall: string, options: ErrnoErrorOptions = {}) {
    const code = errnoCode(errno);
    const { message, ...errorOptions } = options;
    super(
      message ?? `Cannot ${syscall}: ${code} (errno ${errno})`,
      errorOptions,
    );
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}

/**
 * Reads the calling thread's `errno`.
 *
 * Call it in the same synchronous turn as the failing call: any other libc
 * call in between may overwrite it. It is meaningless after a
 * `nonblocking: true` symbol, which runs on another thread.
 *
 * @returns The current errno value.
 */
export function errno(): number {
  const pointer = libc().__errno_location();
  // glibc never returns NULL here; guard anyway rather than assert.
  if (pointer === null) return 0;
  return new Deno.UnsafePointerView(pointer).getInt32();
}

/**
 * Builds the error for a failed libc call from an errno value already read:
 * the `Deno.errors` class the runtime would use (`AddrInUse`,
 * `ConnectionRefused`, `ConnectionReset`, `ConnectionAborted`, `WouldBlock`,
 * `BrokenPipe`, `NotConnected`, `AddrNotAvailable`, `TimedOut`,
 * `Interrupted`) with `.code` set and an {@linkcode ErrnoError} as its
 * `cause`, or else the `ErrnoError` itself. The message reads
 * "Cannot setsockopt SO_LINGER on fd 7: EBADF (errno 9)".
 *
 * Use it when a caller must look at errno before deciding to throw (to
 * retry on EINTR, say); otherwise use {@linkcode check}.
 *
 * @param errno The errno value.
 * @param syscall The libc function that failed.
 * @param detail What it was called on, such as `"SO_LINGER on fd 7"`.
 * @returns The error, to throw.
 */
export function errnoError(
  errno: number,
  syscall: string,
  detail?: string,
): Error {
  const code = errnoCode(errno);
  const what = detail === undefined || detail === ""
    ? syscall
    : `${syscall} ${detail}`;
  const message = `Cannot ${what}: ${code} (errno ${errno})`;
  const cause = new ErrnoError(errno, syscall, { message });
  const DenoError = DENO_ERRORS[code];
  if (DenoError === undefined) return cause;
  const error = new DenoError(message, { cause });
  // The runtime's own errors carry `.code`; match them.
  Object.defineProperty(error, "code", {
    value: code,
    writable: true,
    enumerable: true,
    configurable: true,
  });
  return error;
}

/**
 * Checks the return code of a libc call that reports failure as a negative
 * value and sets errno.
 *
 * On failure, reads errno at once and throws the error
 * {@linkcode errnoError} builds: a `Deno.errors` class where one matches the
 * errno (with `.code` set), else an {@linkcode ErrnoError}.
 *
 * @example Check a raw socket call
 * ```ts ignore
 * const fd = check(libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
 * check(libc().listen(fd, 128), "listen", `on fd ${fd}`);
 * ```
 *
 * @param rc The call's return value (a `bigint` for `ssize_t` results).
 * @param syscall The libc function called, for the message and `.syscall`.
 * @param detail What it was called on, such as `"SO_LINGER on fd 7"`.
 * @returns `rc` as a number when it is not negative.
 */
export function check(
  rc: number | bigint,
  syscall: string,
  detail?: string,
): number {
  if (rc >= 0) return Number(rc);
  // Read errno before anything else can run and overwrite it.
  throw errnoError(errno(), syscall, detail);
}
