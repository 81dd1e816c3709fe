import { errorMessage } from "../common/mod.ts";
/**
 * A stretch of failing `accept()` calls on one socket, logged as one
 * episode: a line when it starts, at most one a minute while it lasts, and
 * one with the count when it ends. An accept loop out of fds retries ten
 * times a second, and a remote client can keep it there: a line per retry
 * would flood the log.
 *
 * @module
 */

/** Where the lines go (a LogTape logger fits). */
export interface AcceptFailureLog {
  error(message: string, properties: Record<string, unknown>): void;
  info(message: string, properties: Record<string, unknown>): void;
}

/** Options of {@linkcode AcceptFailures}. */
export interface AcceptFailuresOptions {
  /** Where the lines go. */
  log: AcceptFailureLog;
  /** The pause between retries, in ms, for the first line. */
  retryMs: number;
  /** The least time between two lines of one episode, in ms. @default {60000} */
  remindMs?: number;
  /** The clock, in ms. @default {performance.now} */
  now?: () => number;
}

/** The episodes of failing accepts on one socket. */
export class AcceptFailures {
  readonly #what: string;
  readonly #log: AcceptFailureLog;
  readonly #retryMs: number;
  readonly #remindMs: number;
  readonly #now: () => number;
  #count = 0;
  #since = 0;
  #loggedAt = 0;

  /**
   * @param what The socket, as the lines name it (`127.0.0.1:1234`).
   * @param options Log, retry pause, clock.
   */
  constructor(what: string, options: AcceptFailuresOptions) {
    this.#what = what;
    this.#log = options.log;
    this.#retryMs = options.retryMs;
    this.#remindMs = options.remindMs ?? 60_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Failed accepts in the episode under way (0: none). */
  get count(): number {
    return this.#count;
  }

  /** An accept failed: logs the first of an episode, then once a minute. */
  failed(error: unknown): void {
    const now = this.#now();
    const message = errorMessage(error);
    this.#count++;
    if (this.#count === 1) {
      this.#since = now;
      this.#loggedAt = now;
      this.#log.error(
        "cannot accept on {what}: {error}; retrying every {ms} ms (logged again when it ends, or in a minute)",
        { what: this.#what, error: message, ms: this.#retryMs },
      );
    } else if (now - this.#loggedAt >= this.#remindMs) {
      this.#loggedAt = now;
      this.#log.error(
        "still cannot accept on {what}: {count} failed accepts in {seconds} s; the last: {error}",
        {
          what: this.#what,
          count: this.#count,
          seconds: this.#seconds(now),
          error: message,
        },
      );
    }
  }

  /**
   * The episode is over, if one was under way: `"recovered"` (an accept
   * worked) or `"stopped"` (accepting stopped: a handover, or closing).
   */
  ended(how: "recovered" | "stopped"): void {
    if (this.#count === 0) return;
    this.#log.info(
      how === "recovered"
        ? "accepting on {what} again after {count} failed accepts in {seconds} s"
        : "stopped accepting on {what} after {count} failed accepts in {seconds} s",
      {
        what: this.#what,
        count: this.#count,
        seconds: this.#seconds(this.#now()),
      },
    );
    this.#count = 0;
  }

  #seconds(now: number): string {
    return ((now - this.#since) / 1000).toFixed(1);
  }
}
