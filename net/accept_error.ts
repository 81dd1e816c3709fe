/**
 * What an accept loop does after `accept()` failed: a connection that died
 * in the backlog is skipped at once; only exhausted resources are worth a
 * pause. Backing off after every error let a port scanner's connect-then-
 * reset keep a server unreachable (100 ms per dead connection).
 */

import { LogBudget } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";

const log = tcpkitLogger("server");
// A client can keep a server out of fds: a warning a minute, with the count.
const budget = new LogBudget({ lines: 1, windowMs: 60_000 });

/**
 * Logs a failed accept that backs off: every retry at debug level
 * (`accept retry: …`), and a warning at most once a minute.
 */
export function logAcceptFailure(error: unknown): void {
  log.debug("accept retry: {error}", { error: String(error) });
  const more = budget.tail("accept");
  if (more !== undefined) {
    log.warn("accept failed: {error}; retrying every 100 ms{more}", {
      error: String(error),
      more,
    });
  }
}

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
