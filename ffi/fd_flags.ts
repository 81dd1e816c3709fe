/**
 * An fd's `O_NONBLOCK` file status flag: read it, and set it on fds that
 * came from elsewhere and may be blocking.
 *
 * @module
 */

import { F_GETFL, F_SETFL, O_NONBLOCK } from "./constants.ts";
import { check } from "./errno.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

/**
 * Whether `O_NONBLOCK` is set on the fd's open file description.
 *
 * @param fd An open fd.
 * @returns `true` when calls on it never block.
 * @throws {ErrnoError} When `fcntl()` fails (EBADF).
 */
export function isNonBlocking(fd: number): boolean {
  validateFd(fd);
  const flags = check(
    libc().fcntl(fd, F_GETFL, 0),
    "fcntl",
    `F_GETFL on fd ${fd}`,
  );
  return (flags & O_NONBLOCK) !== 0;
}

/**
 * Sets `O_NONBLOCK` on the fd. The flag belongs to the open file
 * description, so every process holding a copy of the fd sees it too.
 *
 * @param fd An open fd.
 * @throws {ErrnoError} When `fcntl()` fails (EBADF).
 */
export function setNonBlocking(fd: number): void {
  validateFd(fd);
  const c = libc();
  const flags = check(c.fcntl(fd, F_GETFL, 0), "fcntl", `F_GETFL on fd ${fd}`);
  if ((flags & O_NONBLOCK) !== 0) return;
  check(
    c.fcntl(fd, F_SETFL, flags | O_NONBLOCK),
    "fcntl",
    `F_SETFL O_NONBLOCK on fd ${fd}`,
  );
}
