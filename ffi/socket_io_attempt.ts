/**
 * Non-throwing `read()` and `send()` for event loops: the result carries the
 * errno instead of an exception.
 *
 * @module
 */

import { MSG_DONTWAIT, MSG_NOSIGNAL } from "./constants.ts";
import { errno } from "./errno.ts";
import { libc } from "./libc.ts";

/** `send()` flags: never SIGPIPE, never block. */
const SEND_FLAGS = MSG_NOSIGNAL | MSG_DONTWAIT;

/**
 * Reads what a non-blocking socket has, up to `buffer.byteLength` bytes,
 * once: no retry on EINTR.
 *
 * Why not {@linkcode readSocket}: an event loop that reads every ready fd
 * decides per errno (EAGAIN with a hang-up is final) and would pay for a
 * throw and catch on every reset peer. errno is read here, in the same turn
 * as the call.
 *
 * @example Read, then tell EOF, "nothing yet" and errors apart
 * ```ts ignore
 * const got = tryRead(fd, buffer);
 * if (got === 0) close(); // EOF
 * else if (got < 0 && -got !== EAGAIN) fail(errnoCode(-got));
 * ```
 *
 * @param fd The socket.
 * @param buffer Where the bytes go.
 * @returns The count read, 0 at end of file, or minus the errno on failure
 * (`-EAGAIN` when nothing is there yet).
 */
export function tryRead(fd: number, buffer: Uint8Array): number {
  const rc = libc().read(fd, buffer, BigInt(buffer.byteLength));
  return rc >= 0n ? Number(rc) : -errno();
}

/**
 * Sends the first `length` bytes of `bytes` on a socket with `MSG_NOSIGNAL
 * | MSG_DONTWAIT` (a gone peer gives EPIPE, never SIGPIPE; a full buffer
 * EAGAIN), once: no retry on EINTR. See {@linkcode tryRead} for why it
 * does not throw.
 *
 * @param fd The socket.
 * @param bytes The bytes to send.
 * @param length How many of them, from the start; all by default.
 * @returns The count sent (maybe fewer than asked), or minus the errno.
 */
export function trySend(
  fd: number,
  bytes: Uint8Array,
  length: number = bytes.byteLength,
): number {
  const rc = libc().send(fd, bytes, BigInt(length), SEND_FLAGS);
  return rc >= 0n ? Number(rc) : -errno();
}
