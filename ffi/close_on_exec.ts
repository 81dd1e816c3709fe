/**
 * An fd's `FD_CLOEXEC` flag: set it on fds a process inherited (systemd's
 * listening sockets), so the programs it starts do not inherit them too.
 *
 * @module
 */

import { F_GETFD, F_SETFD, FD_CLOEXEC } from "./constants.ts";
import { check } from "./errno.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

/**
 * Whether `FD_CLOEXEC` is set: the fd is closed when the process execs.
 *
 * @param fd An open fd.
 * @returns `true` when a child started with exec does not get it.
 * @throws {ErrnoError} When `fcntl()` fails (EBADF).
 */
export function isCloseOnExec(fd: number): boolean {
  validateFd(fd);
  const flags = check(
    libc().fcntl(fd, F_GETFD, 0),
    "fcntl",
    `F_GETFD on fd ${fd}`,
  );
  return (flags & FD_CLOEXEC) !== 0;
}

/**
 * Sets `FD_CLOEXEC` on the fd. Unlike `O_NONBLOCK` the flag belongs to this
 * fd only: other processes holding the same socket are not affected.
 *
 * @param fd An open fd.
 * @throws {ErrnoError} When `fcntl()` fails (EBADF).
 */
export function setCloseOnExec(fd: number): void {
  validateFd(fd);
  const c = libc();
  const flags = check(c.fcntl(fd, F_GETFD, 0), "fcntl", `F_GETFD on fd ${fd}`);
  if ((flags & FD_CLOEXEC) !== 0) return;
  check(
    c.fcntl(fd, F_SETFD, flags | FD_CLOEXEC),
    "fcntl",
    `F_SETFD FD_CLOEXEC on fd ${fd}`,
  );
}
