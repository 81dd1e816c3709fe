/**
 * Passing file descriptors over a Unix stream socket with `SCM_RIGHTS`:
 * `sendmsg()` with the fds as ancillary data, `recvmsg()` with a control
 * buffer big enough for the most the kernel sends at once.
 *
 * @module
 */

import {
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SCM_RIGHTS,
  SOL_SOCKET,
} from "./constants.ts";
import { EAGAIN, EINTR, errno, errnoError } from "./errno.ts";
import {
  cmsgAlign,
  CMSGHDR,
  cmsgLen,
  cmsgSpace,
  IOVEC,
  MSGHDR,
} from "./layout.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

/**
 * The most fds one `sendmsg()` may carry: Linux's `SCM_MAX_FD` (253). One
 * more fails with EINVAL, so larger sets go in several messages.
 */
export const MAX_FDS_PER_MESSAGE = 253;

/** The most data bytes one call moves; larger sends are partial. */
const CHUNK = 1 << 16;

// Long-lived, off-heap buffers: the msghdr points into them, so they must
// not move while libc runs (a small `new Uint8Array(n)` may live on V8's
// heap). Calls are synchronous, so one set serves every call.
const msghdr = new Uint8Array(new ArrayBuffer(MSGHDR.size));
const msghdrView = new DataView(msghdr.buffer);
const iovec = new Uint8Array(new ArrayBuffer(IOVEC.size));
const iovecView = new DataView(iovec.buffer);
const data = new Uint8Array(new ArrayBuffer(CHUNK));
const control = new Uint8Array(
  new ArrayBuffer(cmsgSpace(4 * MAX_FDS_PER_MESSAGE)),
);
const controlView = new DataView(control.buffer);

function address(buffer: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer));
}

const msghdrAddress = {
  iovec: 0n,
  data: 0n,
  control: 0n,
};

function prepare(dataLength: number, controlLength: number): void {
  if (msghdrAddress.iovec === 0n) {
    msghdrAddress.iovec = address(iovec);
    msghdrAddress.data = address(data);
    msghdrAddress.control = address(control);
  }
  msghdr.fill(0);
  iovecView.setBigUint64(IOVEC.base, msghdrAddress.data, true);
  iovecView.setBigUint64(IOVEC.len, BigInt(dataLength), true);
  msghdrView.setBigUint64(MSGHDR.iov, msghdrAddress.iovec, true);
  msghdrView.setBigUint64(MSGHDR.iovlen, 1n, true);
  if (controlLength > 0) {
    msghdrView.setBigUint64(MSGHDR.control, msghdrAddress.control, true);
    msghdrView.setBigUint64(MSGHDR.controllen, BigInt(controlLength), true);
  }
}

/**
 * Sends bytes, and with the first of them `fds`, on a Unix stream socket
 * (`sendmsg()` with `MSG_NOSIGNAL | MSG_DONTWAIT`). The receiver gets the
 * fds as new descriptors of the same open sockets or files; ours stay open.
 *
 * At most 64 KiB go per call; a partial count means the rest is still to
 * send, without the fds (they went with the first byte).
 *
 * @param fd The connected Unix stream socket.
 * @param bytes At least one byte (fds sent with no data are lost on a
 * stream socket).
 * @param fds Up to {@linkcode MAX_FDS_PER_MESSAGE} fds; may be empty.
 * @returns The count of bytes sent, or `null` when the socket's buffer is
 * full (EAGAIN: nothing was sent, fds included).
 * @throws {RangeError} For no bytes or too many fds.
 * @throws {Deno.errors.BrokenPipe} When the peer has gone.
 * @throws {ErrnoError} On other failures (EBADF for a closed fd in `fds`).
 */
export function sendWithFds(
  fd: number,
  bytes: Uint8Array,
  fds: readonly number[] = [],
): number | null {
  validateFd(fd);
  if (bytes.length === 0) {
    throw new RangeError("Cannot send fds with no data: send at least 1 byte");
  }
  if (fds.length > MAX_FDS_PER_MESSAGE) {
    throw new RangeError(
      `Cannot send ${fds.length} fds in one message: at most ${MAX_FDS_PER_MESSAGE}`,
    );
  }
  for (const passed of fds) validateFd(passed);
  const length = Math.min(bytes.length, CHUNK);
  data.set(bytes.subarray(0, length));
  const controlLength = fds.length === 0 ? 0 : cmsgSpace(4 * fds.length);
  prepare(length, controlLength);
  if (fds.length > 0) {
    control.fill(0, 0, controlLength);
    controlView.setBigUint64(
      CMSGHDR.len,
      BigInt(cmsgLen(4 * fds.length)),
      true,
    );
    controlView.setInt32(CMSGHDR.level, SOL_SOCKET, true);
    controlView.setInt32(CMSGHDR.type, SCM_RIGHTS, true);
    fds.forEach((passed, i) => {
      controlView.setInt32(CMSGHDR.data + 4 * i, passed, true);
    });
  }
  const c = libc();
  while (true) {
    const rc = c.sendmsg(fd, msghdr, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (rc >= 0n) return Number(rc);
    const n = errno();
    if (n === EAGAIN) return null;
    if (n === EINTR) continue;
    throw errnoError(n, "sendmsg", `of ${fds.length} fds on fd ${fd}`);
  }
}

/** What {@linkcode receiveWithFds} got. */
export interface Received {
  /** Data bytes copied into the buffer; 0 means end of file. */
  readonly bytes: number;
  /** fds that came with them (close-on-exec), in the order sent. */
  readonly fds: number[];
}

/**
 * Receives bytes, and any fds sent with them, from a Unix stream socket
 * (`recvmsg()` with `MSG_CMSG_CLOEXEC | MSG_DONTWAIT`). The control buffer
 * holds {@linkcode MAX_FDS_PER_MESSAGE} fds, the most one message carries;
 * the kernel ends a read at the data that carried fds, so one call never
 * returns the fds of two messages.
 *
 * @param fd The connected Unix stream socket.
 * @param buffer Where the bytes go (at most 64 KiB per call).
 * @returns What came, or `null` when nothing is there yet (EAGAIN).
 * @throws {Error} When the kernel reports `MSG_CTRUNC` (fds were dropped);
 * the fds that did arrive are closed first.
 * @throws {Deno.errors.ConnectionReset} When the peer reset the connection.
 * @throws {ErrnoError} On other failures.
 */
export function receiveWithFds(
  fd: number,
  buffer: Uint8Array,
): Received | null {
  validateFd(fd);
  const length = Math.min(buffer.length, CHUNK);
  prepare(length, control.byteLength);
  const c = libc();
  let rc: bigint;
  while (true) {
    rc = c.recvmsg(fd, msghdr, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (rc >= 0n) break;
    const n = errno();
    if (n === EAGAIN) return null;
    if (n === EINTR) continue;
    throw errnoError(n, "recvmsg", `on fd ${fd}`);
  }
  const count = Number(rc);
  buffer.set(data.subarray(0, count));
  const fds: number[] = [];
  const controlLength = Number(
    msghdrView.getBigUint64(MSGHDR.controllen, true),
  );
  let offset = 0;
  while (offset + CMSGHDR.size <= controlLength) {
    const cmsgLength = Number(
      controlView.getBigUint64(offset + CMSGHDR.len, true),
    );
    if (cmsgLength < CMSGHDR.size) break;
    const level = controlView.getInt32(offset + CMSGHDR.level, true);
    const type = controlView.getInt32(offset + CMSGHDR.type, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      const n = (cmsgLength - CMSGHDR.data) / 4;
      for (let i = 0; i < n; i++) {
        fds.push(controlView.getInt32(offset + CMSGHDR.data + 4 * i, true));
      }
    }
    offset += cmsgAlign(cmsgLength);
  }
  const flags = msghdrView.getInt32(MSGHDR.flags, true);
  if ((flags & MSG_CTRUNC) !== 0) {
    for (const received of fds) c.close(received);
    throw new Error(
      `Cannot receive fds on fd ${fd}: the control data was truncated (MSG_CTRUNC); ${fds.length} fds arrived and were closed`,
    );
  }
  return { bytes: count, fds };
}
