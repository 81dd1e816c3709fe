/**
 * Warming up the code a takeover runs while clients wait, in a process that
 * has run none of it yet.
 *
 * @module
 */

import {
  closeFd,
  constants,
  type Reactor,
  readSocket,
  sendSocket,
  setNonBlocking,
  socketCookies,
  socketKinds,
  unixSocketPair,
} from "../ffi/mod.ts";

const { EPOLLIN, EPOLLOUT } = constants;

/** Rounds of the warm-up: enough for V8 to optimise the hot paths. */
export const WARM_UP_ROUNDS = 1000;

/**
 * Runs the per-connection FFI paths — epoll registration, `read()`,
 * `send()`, `SO_COOKIE`, the checks of what each fd is and its
 * `O_NONBLOCK` — `rounds` times on a throw-away socket pair.
 *
 * Why: a fresh process runs them in V8's interpreter, where every FFI call
 * takes the slow path. Measured with 1,000 connections: registering them
 * took 4.4–7.0 ms cold and 1.8–2.6 ms after this, and the first read and
 * echo on each is as cold. Done before the old process pauses, it costs
 * clients nothing.
 *
 * @param reactor The reactor that will serve the connections.
 * @param rounds How many times.
 */
export function warmUp(
  reactor: Reactor,
  rounds: number = WARM_UP_ROUNDS,
): void {
  let pair: [number, number];
  try {
    pair = unixSocketPair();
  } catch {
    return; // Out of fds, say: the takeover runs cold, no worse.
  }
  const [a, b] = pair;
  const bytes = new Uint8Array(4);
  const buffer = new Uint8Array(1 << 16);
  const noop = () => {};
  try {
    for (let i = 0; i < rounds; i++) {
      reactor.watch(a, EPOLLIN, noop);
      reactor.setEvents(a, EPOLLIN | EPOLLOUT);
      sendSocket(b, bytes);
      readSocket(a, buffer);
      readSocket(a, buffer);
      socketKinds([a]);
      setNonBlocking(a);
      socketCookies([a]);
      reactor.unwatch(a);
    }
  } finally {
    closeFd(a);
    closeFd(b);
  }
}
