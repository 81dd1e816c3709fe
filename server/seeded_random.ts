/**
 * A small seeded pseudo-random generator, so a fault with `seed=N` makes the
 * same choices in the same order on every run.
 */

/**
 * Mulberry32: 32 bits of state, fast, and good enough to pick which
 * connections get a fault; not for anything secret.
 *
 * @example
 * ```ts
 * import { SeededRandom } from "./seeded_random.ts";
 * const a = new SeededRandom(42), b = new SeededRandom(42);
 * a.next() === b.next(); // true
 * ```
 */
export class SeededRandom {
  #state: number;
  /** The seed this generator started from. */
  readonly seed: number;

  /** Starts from `seed` (an unsigned 32-bit integer), or a random one. */
  constructor(seed?: number) {
    this.seed = seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
    this.#state = this.seed >>> 0;
  }

  /** The next number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p >= 1 || (p > 0 && this.next() < p);
  }

  /** Fills `bytes` with pseudo-random bytes. */
  fill(bytes: Uint8Array): Uint8Array {
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = Math.floor(this.next() * 256);
    }
    return bytes;
  }
}
