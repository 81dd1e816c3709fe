/**
 * Closing a Deno TCP connection with an RST instead of a FIN.
 *
 * @module
 */

import { AF_INET, O_CLOEXEC, SOCK_CLOEXEC, SOCK_STREAM } from "./constants.ts";
import { check } from "./errno.ts";
import { socketFdOf } from "./find_fd.ts";
import { libc } from "./libc.ts";
import { setLinger } from "./socket_options.ts";

/**
 * Closes a Deno-owned TCP connection with an RST and no FIN: the peer's next
 * read fails with `ECONNRESET` (`Deno.errors.ConnectionReset`) instead of
 * reading end-of-file, and this side leaves no socket behind in FIN-WAIT or
 * TIME-WAIT. Unsent data in the send buffer is discarded.
 *
 * Why not `SO_LINGER` {1, 0} and `conn.close()`: Deno's `close()` is
 * `shutdown(fd, SHUT_WR)` then `close(fd)`, so it always sends a FIN first;
 * the peer reads EOF and only then meets the RST. Here, in one synchronous
 * block (Deno cannot touch the fd meanwhile):
 *
 * 1. find the fd ({@linkcode socketFdOf}) and set `SO_LINGER` {1, 0} on it;
 * 2. `dup3(dummy, fd, O_CLOEXEC)` with a fresh, unconnected socket: this
 *    closes the real socket's last reference without a shutdown, and linger
 *    0 makes the kernel send the RST;
 * 3. `close(dummy)`, then `conn.close()`, whose shutdown and close now land
 *    harmlessly on the dummy that sits under Deno's fd number.
 *
 * A `read()` pending on `conn` settles (`conn.close()` cancels it; expect a
 * rejection such as `Deno.errors.Interrupted` or `BadResource`, or `null`).
 *
 * Only the last reference to a socket makes the kernel reset it: if the fd
 * was duplicated (`dup`, passed by SCM_RIGHTS, inherited by a child), the
 * connection stays up in the other holder, and this only drops our copy.
 *
 * When the socket's fd cannot be found any more — `conn` is already closed,
 * or the peer already reset it (`getpeername()` then fails) — there is
 * nothing left to reset: this only calls `conn.close()`, ignoring
 * `Deno.errors.BadResource`.
 *
 * @example Reset a misbehaving client
 * ```ts ignore
 * import { closeWithReset } from "./mod.ts";
 *
 * const conn = await listener.accept();
 * closeWithReset(conn); // the client's read() throws ConnectionReset
 * ```
 *
 * @param conn An open TCP connection (accepted or connected).
 * @throws {TypeError} When `conn` is not TCP.
 * @throws {ErrnoError} When `socket()`, `setsockopt()` or `dup3()` fails
 * (such as EMFILE); `conn` is then still open, perhaps with `SO_LINGER`
 * {1, 0} set.
 */
export function closeWithReset(conn: Deno.TcpConn): void {
  let fd: number;
  try {
    fd = socketFdOf(conn);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    closeQuietly(conn);
    return;
  }
  const c = libc();
  // The dummy first: if we are out of fds, nothing has changed yet.
  const dummy = check(
    c.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
    "for the reset dummy",
  );
  try {
    setLinger(fd, { enabled: true, seconds: 0 });
    // Atomically replaces what `fd` refers to; the real socket's last
    // reference goes, and with linger 0 the kernel sends RST, not FIN.
    check(c.dup3(dummy, fd, O_CLOEXEC), "dup3", `${dummy} onto fd ${fd}`);
  } finally {
    // `fd` keeps the dummy alive for Deno; this number is ours to close.
    c.close(dummy);
  }
  // Deno's shutdown(SHUT_WR) fails with ENOTCONN on the unconnected dummy
  // (ignored by Deno), then its close() closes the dummy.
  closeQuietly(conn);
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}
