/**
 * `shutdown()`: ending one or both directions of a connected socket.
 *
 * @module
 */

import { check } from "./errno.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

/**
 * Shuts down a direction of a connected socket: `SHUT_RD` (0), `SHUT_WR`
 * (1, sends a FIN) or `SHUT_RDWR` (2). The fd stays open; close it as usual.
 *
 * @example Send a FIN before closing
 * ```ts ignore
 * shutdownSocket(fd, constants.SHUT_WR);
 * ```
 *
 * @param fd The socket.
 * @param how `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
 * @throws {RangeError} When `fd` is not a valid fd number.
 * @throws {Deno.errors.NotConnected} When the socket is not connected (ENOTCONN).
 * @throws {ErrnoError} On other failures (EBADF, ENOTSOCK, EINVAL for a bad `how`).
 */
export function shutdownSocket(fd: number, how: number): void {
  validateFd(fd);
  check(libc().shutdown(fd, how), "shutdown", `on fd ${fd}`);
}
