/**
 * A spare copy of an fd: it holds one slot of the process's fd table.
 *
 * @module
 */

import { F_DUPFD_CLOEXEC } from "./constants.ts";
import { check } from "./errno.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

/**
 * Duplicates `fd` to the lowest free fd, close-on-exec
 * (`fcntl(F_DUPFD_CLOEXEC)`). The copy shares the open file description:
 * closing it leaves the original open.
 *
 * Why: a process out of fds (EMFILE) cannot accept the one connection that
 * must get through, a takeover's asker say. A copy made beforehand holds a
 * slot; closing it right before `accept()` frees the slot for that
 * connection (the classic EMFILE reserve).
 *
 * @param fd An open fd.
 * @returns The new fd.
 * @throws {ErrnoError} When `fcntl()` fails (EMFILE when the table is full, EBADF).
 */
export function duplicateFd(fd: number): number {
  validateFd(fd);
  return check(
    libc().fcntl(fd, F_DUPFD_CLOEXEC, 0),
    "fcntl",
    `F_DUPFD_CLOEXEC of fd ${fd}`,
  );
}
