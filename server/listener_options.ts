/**
 * Socket options set once on a listener: Linux copies them into every
 * socket it accepts, so no per-connection fd lookup is needed.
 */
import {
  getSocketOption,
  setSocketOption,
  socketFdOf,
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
 * Sets the options on the listener and reads each one back.
 *
 * @returns The values read back with getsockopt, by option name, for logs.
 */
export function applyListenerOptions(
  listener: Deno.TcpListener,
  options: ListenerSocketOptions,
): Partial<Record<SocketOption, number>> {
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
  const applied: Partial<Record<SocketOption, number>> = {};
  if (wanted.length === 0) return applied;
  // One synchronous block: the fd number is used at once, never kept.
  const fd = socketFdOf(listener);
  for (const [option, value] of wanted) {
    setSocketOption(fd, option, value);
    applied[option] = getSocketOption(fd, option);
  }
  return applied;
}
