/**
 * tcpkit's libc layer: the one `Deno.dlopen` of libc, its symbol table,
 * struct layouts, errno handling, and thin typed wrappers for what Deno does
 * not expose — service names, socket options such as TCP keepalive timing,
 * SO_LINGER, SO_REUSEPORT and SO_COOKIE, the fd behind a Deno socket,
 * closing a connection with an RST, memory shared with child processes,
 * holding a port for SO_REUSEPORT listeners — and, for sockets that must
 * move between processes, raw non-blocking TCP and Unix sockets owned by
 * fd, an epoll reactor to serve them, and fd passing with SCM_RIGHTS.
 *
 * **Unsafe.** Everything here needs `--allow-ffi`, which is effectively full
 * access: FFI code can do anything the process can, whatever other
 * permissions say. Nothing here is re-exported from tcpkit's root module.
 *
 * Linux only (glibc), on x86_64 and aarch64; `libc.so.6` is opened on first
 * use, or the path in `TCPKIT_LIBC_PATH`.
 *
 * @example Tune keepalive on a Deno connection
 * ```ts ignore
 * import { getSocketOption, setSocketOption, socketFdOf } from "@tcpkit/tcpkit/ffi";
 *
 * using conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 });
 * // Use the fd at once: fd numbers are reused after close.
 * const fd = socketFdOf(conn);
 * setSocketOption(fd, "SO_KEEPALIVE", 1);
 * setSocketOption(fd, "TCP_KEEPIDLE", 30);
 * console.log(getSocketOption(fd, "TCP_KEEPIDLE")); // 30
 * ```
 *
 * @module
 */

import * as constants from "./constants.ts";
import * as layout from "./layout.ts";

export { constants, layout };
export { LIBC_SYMBOLS } from "./symbols.ts";
export {
  DEFAULT_LIBC_PATH,
  libc,
  LIBC_PATH_ENV,
  type LibcSymbols,
} from "./libc.ts";
export {
  check,
  EADDRINUSE,
  EAGAIN,
  EBADF,
  ECONNABORTED,
  ECONNREFUSED,
  EEXIST,
  EINTR,
  ENOENT,
  ENOTCONN,
  ENOTSOCK,
  EPIPE,
  EPROTO,
  errno,
  ERRNO_CODES,
  errnoCode,
  ErrnoError,
  errnoError,
  type ErrnoErrorOptions,
  UNKNOWN_ERRNO_CODE,
} from "./errno.ts";
export {
  decodeSockaddr,
  encodeSockaddr,
  formatIp,
  fromNetAddr,
  getPeerName,
  getSockName,
  type IpFamily,
  normalizeAddress,
  parseIp,
  sameAddress,
  type SocketAddress,
} from "./sockaddr.ts";
export { getServiceByName } from "./services.ts";
export {
  getLinger,
  getPeerCredentials,
  getSocketCookie,
  getSocketOption,
  type Linger,
  type PeerCredentials,
  setLinger,
  setSocketOption,
  type SocketOption,
} from "./socket_options.ts";
export { socketFdOf } from "./find_fd.ts";
export { closeWithReset } from "./reset_close.ts";
export { SharedMemory } from "./shared_memory.ts";
export { PortReservation } from "./port_reservation.ts";
export {
  acceptSocket,
  closeFd,
  listenTcp,
  type ListenTcpOptions,
  type RawListener,
  readSocket,
  sendSocket,
} from "./raw_socket.ts";
export {
  connectUnix,
  encodeSockaddrUn,
  listenUnix,
  type ListenUnixOptions,
  probeUnixPath,
  type UnixPathState,
  unlinkPath,
} from "./unix_socket.ts";
export { type FileType, fileTypeAt } from "./file_type.ts";
export {
  formatSocketKind,
  isTcp,
  type SocketKind,
  socketKinds,
} from "./socket_kind.ts";
export { isNonBlocking, setNonBlocking } from "./fd_flags.ts";
export {
  MAX_FDS_PER_MESSAGE,
  type Received,
  receiveWithFds,
  sendWithFds,
} from "./fd_passing.ts";
export {
  Reactor,
  type ReactorOptions,
  type ReactorWait,
  type ReadinessHandler,
} from "./reactor.ts";
export { epollFds, epollFdsWatching } from "./runtime_epolls.ts";
export { EventLoopTurn } from "./event_loop_turn.ts";
export { socketCookies } from "./socket_cookies.ts";
export { reserveFdSlots } from "./fd_table.ts";
export { effectiveUid } from "./effective_uid.ts";
export { shutdownSocket } from "./shutdown_socket.ts";
export { tryRead, trySend } from "./socket_io_attempt.ts";
export {
  unixSocketPair,
  type UnixSocketPairOptions,
} from "./unix_socket_pair.ts";
