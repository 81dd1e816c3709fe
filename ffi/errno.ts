/**
 * errno: reading it, naming it, and turning failed libc calls into errors.
 *
 * @module
 */

import { libc } from "./libc.ts";

/**
 * errno numbers of Linux mapped to their symbolic names: the whole generic
 * table (`asm-generic/errno-base.h` and `errno.h`), shared by x86_64 and
 * aarch64. Where two names share a number (EAGAIN and EWOULDBLOCK,
 * EOPNOTSUPP and ENOTSUP, EDEADLK and EDEADLOCK) the first is given.
 */
export const ERRNO_CODES: Readonly<Record<number, string>> = Object.freeze({
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  33: "EDOM",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  37: "ENOLCK",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  42: "ENOMSG",
  43: "EIDRM",
  44: "ECHRNG",
  45: "EL2NSYNC",
  46: "EL3HLT",
  47: "EL3RST",
  48: "ELNRNG",
  49: "EUNATCH",
  50: "ENOCSI",
  51: "EL2HLT",
  52: "EBADE",
  53: "EBADR",
  54: "EXFULL",
  55: "ENOANO",
  56: "EBADRQC",
  57: "EBADSLT",
  59: "EBFONT",
  60: "ENOSTR",
  61: "ENODATA",
  62: "ETIME",
  63: "ENOSR",
  64: "ENONET",
  65: "ENOPKG",
  66: "EREMOTE",
  67: "ENOLINK",
  68: "EADV",
  69: "ESRMNT",
  70: "ECOMM",
  71: "EPROTO",
  72: "EMULTIHOP",
  73: "EDOTDOT",
  74: "EBADMSG",
  75: "EOVERFLOW",
  76: "ENOTUNIQ",
  77: "EBADFD",
  78: "EREMCHG",
  79: "ELIBACC",
  80: "ELIBBAD",
  81: "ELIBSCN",
  82: "ELIBMAX",
  83: "ELIBEXEC",
  84: "EILSEQ",
  85: "ERESTART",
  86: "ESTRPIPE",
  87: "EUSERS",
  88: "ENOTSOCK",
  89: "EDESTADDRREQ",
  90: "EMSGSIZE",
  91: "EPROTOTYPE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  94: "ESOCKTNOSUPPORT",
  95: "EOPNOTSUPP",
  96: "EPFNOSUPPORT",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  102: "ENETRESET",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  108: "ESHUTDOWN",
  109: "ETOOMANYREFS",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  112: "EHOSTDOWN",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  116: "ESTALE",
  117: "EUCLEAN",
  118: "ENOTNAM",
  119: "ENAVAIL",
  120: "EISNAM",
  121: "EREMOTEIO",
  122: "EDQUOT",
  123: "ENOMEDIUM",
  124: "EMEDIUMTYPE",
  125: "ECANCELED",
  126: "ENOKEY",
  127: "EKEYEXPIRED",
  128: "EKEYREVOKED",
  129: "EKEYREJECTED",
  130: "EOWNERDEAD",
  131: "ENOTRECOVERABLE",
  132: "ERFKILL",
  133: "EHWPOISON",
});

// The errno numbers the toolkit compares against, declared once here; the
// test beside this file checks each against <errno.h>.
/** `ENOENT` (2): No such file or directory. */
export const ENOENT = 2;
/** `EINTR` (4): Interrupted system call: retry. */
export const EINTR = 4;
/** `EBADF` (9): Bad file descriptor. */
export const EBADF = 9;
/** `EAGAIN` (11): Try again: a non-blocking call would block (also `EWOULDBLOCK`). */
export const EAGAIN = 11;
/** `EEXIST` (17): File exists. */
export const EEXIST = 17;
/** `EPIPE` (32): Broken pipe: the peer is gone. */
export const EPIPE = 32;
/** `EPROTO` (71): Protocol error (`accept4` passes it on from the network). */
export const EPROTO = 71;
/** `ENOTSOCK` (88): Socket operation on a non-socket. */
export const ENOTSOCK = 88;
/** `EADDRINUSE` (98): Address already in use. */
export const EADDRINUSE = 98;
/** `ECONNABORTED` (103): Software caused connection abort. */
export const ECONNABORTED = 103;
/** `ENOTCONN` (107): Transport endpoint is not connected. */
export const ENOTCONN = 107;
/** `ECONNREFUSED` (111): Connection refused. */
export const ECONNREFUSED = 111;

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

// A view of this thread's errno: its address is fixed for the thread's
// life, so it is found once. Reading it afterwards is a plain memory read:
// no op and no FFI call runs between the failed call and the read, where
// the runtime's own syscalls (a permission check, an allocation) could
// overwrite errno (a read once reported ENOENT that way, under load).
let errnoCell: Int32Array | undefined;

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
  if (errnoCell === undefined) {
    const pointer = libc().__errno_location();
    // glibc never returns NULL here; guard anyway rather than assert.
    if (pointer === null) return 0;
    errnoCell = new Int32Array(
      Deno.UnsafePointerView.getArrayBuffer(pointer, 4),
    );
  }
  return errnoCell[0]!;
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
