/**
 * Finds the kernel fd behind a Deno-owned TCP socket, with `--allow-ffi`
 * only (`/proc/self/fd` would need `--allow-all`).
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  RLIMIT_NOFILE,
  SO_ACCEPTCONN,
  SOL_SOCKET,
} from "./constants.ts";
import {
  ntohs,
  RLIMIT,
  SOCKADDR_IN,
  SOCKADDR_IN6,
  SOCKADDR_STORAGE,
} from "./layout.ts";
import { libc } from "./libc.ts";
import {
  formatIp,
  fromNetAddr,
  normalizeAddress,
  type SocketAddress,
} from "./sockaddr.ts";

/** The scan never goes past this many fds, whatever RLIMIT_NOFILE says. */
const MAX_SCAN = 1 << 20;

/**
 * Returns the file descriptor of a Deno TCP connection or listener, so that
 * socket options Deno lacks can be applied to it.
 *
 * It scans fds upwards from 0 to the soft `RLIMIT_NOFILE` (at most 2^20),
 * calling `getsockname()` and `getpeername()` on each, and returns the first
 * whose addresses match `conn.localAddr` and `conn.remoteAddr` (a listener:
 * whose local address matches `listener.addr`, with no peer and
 * `SO_ACCEPTCONN` set). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as a
 * dual-stack `::` listener reports IPv4 peers) match their IPv4 form. The
 * scan is one synchronous block, so Deno cannot open or close sockets while
 * it runs.
 *
 * Use the number at once, in the same synchronous turn; never cache it —
 * fd numbers are reused as soon as a socket is closed. Compare
 * `getSocketCookie()` if you must keep one. Two `reusePort` listeners on the
 * same address in one process cannot be told apart.
 *
 * @example Set TCP keepalive timing Deno does not expose
 * ```ts ignore
 * import { setSocketOption, socketFdOf } from "./mod.ts";
 *
 * const fd = socketFdOf(conn);
 * setSocketOption(fd, "SO_KEEPALIVE", 1);
 * setSocketOption(fd, "TCP_KEEPIDLE", 30);
 * ```
 *
 * @param socket A `Deno.Conn` (also `Deno.TlsConn`) or `Deno.Listener` whose
 * transport is `"tcp"`.
 * @returns The fd.
 * @throws {TypeError} When the socket is not TCP (Unix, UDP, vsock).
 * @throws {Deno.errors.NotFound} When no open fd matches, such as after
 * `close()`.
 */
export function socketFdOf(socket: Deno.Conn | Deno.Listener): number {
  const isConn = "remoteAddr" in socket;
  const localAddr = isConn ? socket.localAddr : socket.addr;
  if (localAddr.transport !== "tcp") {
    throw new TypeError(
      `Cannot find the fd of a ${localAddr.transport} socket: only TCP is supported`,
    );
  }
  const local = normalizeAddress(fromNetAddr(localAddr));
  let peer: SocketAddress | null = null;
  if (isConn) {
    const remoteAddr = socket.remoteAddr;
    if (remoteAddr.transport !== "tcp") {
      throw new TypeError(
        `Cannot find the fd of a ${remoteAddr.transport} socket: only TCP is supported`,
      );
    }
    peer = normalizeAddress(fromNetAddr(remoteAddr));
  }
  const limit = scanLimit();
  const fd = peer === null
    ? scanListener(local, limit)
    : scanConn(local, peer, limit);
  if (fd >= 0) return fd;
  const what = peer === null
    ? `TCP listener ${formatHostPort(local)}`
    : `TCP connection ${formatHostPort(local)} -> ${formatHostPort(peer)}`;
  throw new Deno.errors.NotFound(
    `Cannot find the fd of ${what}: no open socket matches (scanned fds 0 to ${
      limit - 1
    })`,
  );
}

// Scratch buffers for the scan: every call copies out what it keeps.
const address = new Uint8Array(new ArrayBuffer(SOCKADDR_STORAGE.size));
const addressLength = new Uint32Array(1);
const optionValue = new Int32Array(1);
const optionLength = new Uint32Array(1);

function scanConn(
  local: SocketAddress,
  peer: SocketAddress,
  limit: number,
): number {
  const c = libc();
  for (let fd = 0; fd < limit; fd++) {
    // Failures (EBADF, ENOTSOCK, ENOTCONN, anything odd) just mean "not it".
    addressLength[0] = address.byteLength;
    if (c.getsockname(fd, address, addressLength) < 0) continue;
    if (!matches(local)) continue;
    addressLength[0] = address.byteLength;
    if (c.getpeername(fd, address, addressLength) < 0) continue;
    if (matches(peer)) return fd;
  }
  return -1;
}

function scanListener(local: SocketAddress, limit: number): number {
  const c = libc();
  for (let fd = 0; fd < limit; fd++) {
    addressLength[0] = address.byteLength;
    if (c.getsockname(fd, address, addressLength) < 0) continue;
    if (!matches(local)) continue;
    // Accepted conns share the listener's local address but have a peer.
    addressLength[0] = address.byteLength;
    if (c.getpeername(fd, address, addressLength) >= 0) continue;
    optionValue[0] = 0;
    optionLength[0] = optionValue.byteLength;
    if (
      c.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, optionValue, optionLength) < 0
    ) continue;
    if (optionValue[0] === 1) return fd;
  }
  return -1;
}

const view = new DataView(address.buffer);

// Compares the kernel's sockaddr in `address` with `expected` (normalised)
// in place: the scan runs this for every socket, so it must not allocate.
function matches(expected: SocketAddress): boolean {
  const length = addressLength[0] ?? 0;
  const family = view.getUint16(0, true);
  let offset: number;
  if (family === AF_INET && length >= SOCKADDR_IN.size) {
    if (expected.family !== "ipv4") return false;
    if (ntohs(view.getUint16(SOCKADDR_IN.port, true)) !== expected.port) {
      return false;
    }
    offset = SOCKADDR_IN.addr;
  } else if (family === AF_INET6 && length >= SOCKADDR_IN6.size) {
    if (ntohs(view.getUint16(SOCKADDR_IN6.port, true)) !== expected.port) {
      return false;
    }
    offset = SOCKADDR_IN6.addr;
    if (expected.family === "ipv4") {
      // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) equals its IPv4 form.
      for (let i = 0; i < 10; i++) if (address[offset + i] !== 0) return false;
      if (address[offset + 10] !== 0xff || address[offset + 11] !== 0xff) {
        return false;
      }
      offset += 12;
    }
  } else {
    return false;
  }
  const bytes = expected.address;
  for (let i = 0; i < bytes.length; i++) {
    if (address[offset + i] !== bytes[i]) return false;
  }
  return true;
}

function scanLimit(): number {
  const rlimit = new BigUint64Array(RLIMIT.size / 8);
  if (libc().getrlimit(RLIMIT_NOFILE, rlimit) < 0) return MAX_SCAN;
  const soft = rlimit[RLIMIT.cur / 8] ?? BigInt(MAX_SCAN);
  // RLIM_INFINITY (2^64-1) and huge limits fall to the cap.
  return soft < BigInt(MAX_SCAN) ? Number(soft) : MAX_SCAN;
}

function formatHostPort(address: SocketAddress): string {
  const host = formatIp(address.address);
  return address.family === "ipv6"
    ? `[${host}]:${address.port}`
    : `${host}:${address.port}`;
}
