/**
 * The GOOD/BAD health state a tcpservd reports, shared by all its clients.
 */

/** The two health states. */
export type Health = "GOOD" | "BAD";

/** Parses `good`/`bad` in any case; `undefined` for anything else. */
export function parseHealth(text: string): Health | undefined {
  const upper = text.trim().toUpperCase();
  return upper === "GOOD" || upper === "BAD" ? upper : undefined;
}

/** Called after the state changes, with the new and the old value. */
export type HealthListener = (health: Health, previous: Health) => void;

/**
 * One health state for a whole server. Every connection reads and flips the
 * same object, so a `setbad` on one client is seen by the next `getstatus`
 * on any other. Given a shared cell (an `Int32Array` over memory shared
 * between processes), every worker process of a server reads and writes
 * the same word, so the state is one for all of them, at once.
 */
export class HealthState {
  readonly #cell: Int32Array;
  readonly #listeners = new Set<HealthListener>();

  /**
   * Creates the state.
   *
   * @param initial The state at start; with a shared cell, written into it
   * only when `initial` is given. @default {"GOOD"}
   * @param cell Where the state lives: element 0, 0 for GOOD and 1 for BAD.
   */
  constructor(initial?: Health, cell?: Int32Array) {
    if (cell !== undefined && cell.length < 1) {
      throw new RangeError("Empty health cell");
    }
    this.#cell = cell ?? new Int32Array(1);
    if (initial !== undefined || cell === undefined) {
      this.#cell[0] = encode(initial ?? "GOOD");
    }
  }

  /** The current state. */
  get(): Health {
    return this.#cell[0] === 1 ? "BAD" : "GOOD";
  }

  /** Sets the state; listeners run only on a real change. */
  set(health: Health): void {
    const previous = this.get();
    if (previous === health) return;
    this.#cell[0] = encode(health);
    for (const listener of this.#listeners) listener(health, previous);
  }

  /** Subscribes to changes made through this object; returns the unsubscriber. */
  subscribe(listener: HealthListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

function encode(health: Health): number {
  return health === "BAD" ? 1 : 0;
}
