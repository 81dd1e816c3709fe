/**
 * Socket options set once on a listener: Linux copies them into every
 * socket it accepts, so no per-connection fd lookup is needed.
 */
import {
  getSocketOption,
  setSocketOption,
  type SocketOption,
} from "../ffi/mod.ts";

/** Options of {@linkcode applyListenerOptions}. */
export interface ListenerSocketOptions {
  /** SO_KEEPALIVE on accepted sockets. @default {false} */
  keepAlive?: boolean;
  /** TCP_KEEPIDLE on accepted sockets, in seconds; implies `keepAlive`. */
  keepAliveIdleSecs?: number;
  /** TCP_NODELAY on accepted sockets. @default {false} */
  noDelay?: boolean;
  /** TCP_LINGER2 (how long an orphaned socket stays in FIN-WAIT-2), in seconds. */
  finTimeoutSecs?: number;
}

/**
 * Sets the options on a listener whose fd `listenerFd()` finds, and reads
 * each one back. The fd is looked up only when an option is wanted (for a
 * `Deno.listen` listener that is a scan of the process's fds).
 *
 * @returns The values read back with getsockopt, by option name, for logs.
 */
export function applyListenerOptions(
  listenerFd: () => number,
  options: ListenerSocketOptions,
): Partial<Record<SocketOption, number>> {
  const wanted = wantedOptions(options);
  // One synchronous block: the fd number is used at once, never kept.
  return wanted.length === 0 ? {} : setAll(listenerFd(), wanted);
}

/**
 * Sets the options on a listening socket's fd and reads each one back.
 *
 * @returns The values read back with getsockopt, by option name, for logs.
 */
export function applySocketOptions(
  fd: number,
  options: ListenerSocketOptions,
): Partial<Record<SocketOption, number>> {
  return setAll(fd, wantedOptions(options));
}

function wantedOptions(
  options: ListenerSocketOptions,
): [SocketOption, number][] {
  const wanted: [SocketOption, number][] = [];
  if (options.keepAlive || options.keepAliveIdleSecs !== undefined) {
    wanted.push(["SO_KEEPALIVE", 1]);
  }
  if (options.keepAliveIdleSecs !== undefined) {
    wanted.push(["TCP_KEEPIDLE", options.keepAliveIdleSecs]);
  }
  if (options.noDelay) wanted.push(["TCP_NODELAY", 1]);
  if (options.finTimeoutSecs !== undefined) {
    wanted.push(["TCP_LINGER2", options.finTimeoutSecs]);
  }
  return wanted;
}

function setAll(
  fd: number,
  wanted: [SocketOption, number][],
): Partial<Record<SocketOption, number>> {
  const applied: Partial<Record<SocketOption, number>> = {};
  for (const [option, value] of wanted) {
    setSocketOption(fd, option, value);
    applied[option] = getSocketOption(fd, option);
  }
  return applied;
}
