/**
 * What an accept loop does after `accept()` failed: a connection that died
 * in the backlog is skipped at once; only exhausted resources are worth a
 * pause. Backing off after every error let a port scanner's connect-then-
 * reset keep a server unreachable (100 ms per dead connection).
 */

/** `"next"`: accept the next connection now; `"back-off"`: wait first. */
export type AcceptErrorAction = "next" | "back-off";

/**
 * Classifies an error thrown by `Deno.Listener.accept()`. Deno's accept
 * fails with NotConnected when the peer reset before it was accepted
 * (accept4 succeeds, getpeername gives ENOTCONN); ConnectionAborted and
 * ConnectionReset mean the same. Everything else (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM, or an error we do not know) backs off so the loop cannot spin.
 *
 * @example
 * ```ts
 * import { acceptErrorAction } from "./accept_error.ts";
 * acceptErrorAction(new Deno.errors.NotConnected("getpeername")); // "next"
 * ```
 */
export function acceptErrorAction(error: unknown): AcceptErrorAction {
  return error instanceof Deno.errors.NotConnected ||
      error instanceof Deno.errors.ConnectionAborted ||
      error instanceof Deno.errors.ConnectionReset
    ? "next"
    : "back-off";
}
