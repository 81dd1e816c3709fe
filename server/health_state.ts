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
 * on any other.
 */
export class HealthState {
  #health: Health;
  readonly #listeners = new Set<HealthListener>();

  /** Creates the state. @param initial @default {"GOOD"} */
  constructor(initial: Health = "GOOD") {
    this.#health = initial;
  }

  /** The current state. */
  get(): Health {
    return this.#health;
  }

  /** Sets the state; listeners run only on a real change. */
  set(health: Health): void {
    const previous = this.#health;
    if (previous === health) return;
    this.#health = health;
    for (const listener of this.#listeners) listener(health, previous);
  }

  /** Subscribes to changes; returns the function that unsubscribes. */
  subscribe(listener: HealthListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
