/**
 * Making room in the process's fd table ahead of time.
 *
 * @module
 */

import { F_DUPFD_CLOEXEC, RLIMIT_NOFILE } from "./constants.ts";
import { check } from "./errno.ts";
import { RLIMIT } from "./layout.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

/**
 * Grows the fd table so that `count` more fds fit without growing it again,
 * by duplicating `fd` above the lowest free slot plus `count`
 * (`fcntl(F_DUPFD_CLOEXEC)`, which never replaces an open fd) and closing
 * the copy. The table never shrinks.
 *
 * Why: in a multi-threaded process (every Deno process) each doubling of the
 * fd table waits for an RCU grace period (`expand_fdtable()` calls
 * `synchronize_rcu()`). Measured on Linux 6.18 in a 2-vCPU VM: 10–15 ms per
 * doubling, so receiving 1,000 fds by SCM_RIGHTS into a fresh process took
 * about 50 ms more than into one with room. Call it before a burst of fds
 * must arrive quickly.
 *
 * @param fd Any open fd, to duplicate.
 * @param count How many fds must fit.
 * @returns The highest fd number that fits the current soft `RLIMIT_NOFILE`
 * minus the lowest free one: the room there is.
 * @throws {RangeError} When `count` is not a positive integer, or more fds
 * than `RLIMIT_NOFILE` allows would be needed.
 * @throws {ErrnoError} When `fcntl()` fails (EBADF, EMFILE).
 */
export function reserveFdSlots(fd: number, count: number): number {
  validateFd(fd);
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(
      `Invalid count: expected a positive integer, got ${count}`,
    );
  }
  const c = libc();
  const rlimit = new BigUint64Array(RLIMIT.size / 8);
  check(c.getrlimit(RLIMIT_NOFILE, new Uint8Array(rlimit.buffer)), "getrlimit");
  const limit = Number(
    rlimit[RLIMIT.cur / 8]! > 0x7fff_ffffn
      ? 0x7fff_ffffn
      : rlimit[RLIMIT.cur / 8]!,
  );
  const low = check(
    c.fcntl(fd, F_DUPFD_CLOEXEC, 0),
    "fcntl",
    `F_DUPFD_CLOEXEC of fd ${fd}`,
  );
  c.close(low);
  const room = limit - low;
  if (count > room) {
    throw new RangeError(
      `Cannot make room for ${count} fds: RLIMIT_NOFILE is ${limit} and fd ${low} is the lowest free one`,
    );
  }
  const target = Math.min(low + count, limit - 1);
  const high = check(
    c.fcntl(fd, F_DUPFD_CLOEXEC, target),
    "fcntl",
    `F_DUPFD_CLOEXEC of fd ${fd} to ${target}`,
  );
  c.close(high);
  return room;
}
