/**
 * The FIFO where requests wait for a free daemon, each for at most the
 * queue timeout.
 */

interface Entry<T> {
  item: T;
  deadline: number;
}

/**
 * A first-in first-out queue whose items expire `timeoutMs` after they
 * joined. Every item has the same timeout, so deadlines grow from head to
 * tail and one timer, armed for the head, serves the whole queue: no timer
 * per request on the hot path. When the head leaves early the timer fires
 * anyway, finds nothing due and re-arms for the new head.
 *
 * @example
 * ```ts
 * import { RequestQueue } from "./request_queue.ts";
 * using queue = new RequestQueue<string>(500, (item) => console.log(`${item} expired`));
 * queue.push("a");
 * queue.shift(); // "a"
 * ```
 */
export class RequestQueue<T> {
  readonly #timeoutMs: number;
  readonly #onExpire: (item: T) => void;
  #entries: Entry<T>[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * Creates an empty queue. `onExpire` is called, synchronously from the
   * timer, with each item whose time ran out; the item has left the queue.
   */
  constructor(timeoutMs: number, onExpire: (item: T) => void) {
    if (!(timeoutMs >= 0 && Number.isFinite(timeoutMs))) {
      throw new RangeError(`Invalid queue timeout: ${timeoutMs}`);
    }
    this.#timeoutMs = timeoutMs;
    this.#onExpire = onExpire;
  }

  /** Items waiting now. */
  get length(): number {
    return this.#entries.length - this.#head;
  }

  /** The queue timeout, in ms. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Adds an item at the tail. */
  push(item: T): void {
    if (this.#closed) throw new TypeError("The queue is closed");
    this.#entries.push({ item, deadline: performance.now() + this.#timeoutMs });
    if (this.#timer === undefined) this.#arm();
  }

  /** Takes the oldest item, even one due but not yet expired by the timer. */
  shift(): T | undefined {
    if (this.#head >= this.#entries.length) return undefined;
    const entry = this.#entries[this.#head]!;
    this.#head++;
    this.#compact();
    return entry.item;
  }

  /** Takes every item, oldest first, without expiring them. */
  drain(): T[] {
    const items = this.#entries.slice(this.#head).map((e) => e.item);
    this.#entries = [];
    this.#head = 0;
    this.#disarm();
    return items;
  }

  /** Stops the timer; items left stay until {@linkcode RequestQueue.drain}. Safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#disarm();
  }

  /** Same as {@linkcode RequestQueue.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
      // Nothing to expire: an armed timer would only keep the process awake.
      this.#disarm();
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(): void {
    const head = this.#entries[this.#head];
    if (head === undefined || this.#closed) return;
    const delay = Math.max(0, head.deadline - performance.now());
    this.#timer = setTimeout(() => this.#expire(), delay);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #expire(): void {
    this.#timer = undefined;
    // Timers may fire a fraction of a millisecond early.
    const now = performance.now() + 1;
    while (this.#head < this.#entries.length) {
      const entry = this.#entries[this.#head]!;
      if (entry.deadline > now) break;
      this.#head++;
      this.#compact();
      this.#onExpire(entry.item);
    }
    if (this.#timer === undefined) this.#arm();
  }
}
