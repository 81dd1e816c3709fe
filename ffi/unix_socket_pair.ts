/**
 * A connected pair of Unix stream sockets, from `socketpair()`.
 *
 * @module
 */

import {
  AF_UNIX,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./constants.ts";
import { check } from "./errno.ts";
import { libc } from "./libc.ts";

/** Options of {@linkcode unixSocketPair}. */
export interface UnixSocketPairOptions {
  /**
   * Make both ends non-blocking (`SOCK_NONBLOCK`).
   *
   * @default {true}
   */
  nonBlocking?: boolean;
}

/**
 * Creates two connected Unix stream sockets, close-on-exec: what one end
 * sends, the other reads. The caller owns both fds and closes them.
 *
 * @example A throw-away pair
 * ```ts ignore
 * const [a, b] = unixSocketPair();
 * try {
 *   sendSocket(b, bytes);
 * } finally {
 *   closeFd(a);
 *   closeFd(b);
 * }
 * ```
 *
 * @param options Whether the ends are non-blocking (they are by default).
 * @returns The two fds.
 * @throws {ErrnoError} When `socketpair()` fails (EMFILE when out of fds).
 */
export function unixSocketPair(
  options: UnixSocketPairOptions = {},
): [number, number] {
  const flags = SOCK_STREAM | SOCK_CLOEXEC |
    (options.nonBlocking === false ? 0 : SOCK_NONBLOCK);
  const pair = new Int32Array(2);
  check(libc().socketpair(AF_UNIX, flags, 0, pair), "socketpair");
  return [pair[0]!, pair[1]!];
}
