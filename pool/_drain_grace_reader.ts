/**
 * The client side of an iotcpd connection as a byte reader that a drain
 * does not cut at once: reads go on for a grace, so a request already on
 * its way when SIGTERM comes is still served.
 */
import type { ByteReader } from "../common/mod.ts";
import type { ServerConn } from "../net/server_conn.ts";

/** The drain's grace is over: no more bytes are read from the client. */
export class DrainGraceOverError extends Error {
  /** Creates the error for a grace of `graceMs`. */
  constructor(graceMs: number) {
    super(`Drain grace over: no line within ${graceMs} ms`);
    this.name = "DrainGraceOverError";
  }
}

/**
 * Reads a {@linkcode ServerConn}'s socket directly, not through
 * `ServerConn.read`: that marks the connection `reading`, and a drain cuts
 * a reading connection on the spot, although the client may have sent its
 * request a moment before (it then sees a close with no reply). Here the
 * drain starts a grace instead; reads pending at its end, and later ones,
 * reject with {@linkcode DrainGraceOverError} and the caller answers.
 */
export class DrainGraceReader implements ByteReader {
  readonly #conn: ServerConn;
  readonly #graceMs: number;
  readonly #over = Promise.withResolvers<never>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #graceOver = false;
  #disposed = false;

  /** Wraps `conn`; its drain (see `ServerConn.drain`) starts the grace. */
  constructor(conn: ServerConn, graceMs: number) {
    if (!Number.isFinite(graceMs) || graceMs < 0) {
      throw new RangeError(`Invalid graceMs: ${graceMs}`);
    }
    this.#conn = conn;
    this.#graceMs = graceMs;
    // Rejected when no read is pending too: that is no failure.
    this.#over.promise.catch(() => {});
    if (conn.draining) this.#startGrace();
    else conn.onDrain(() => this.#startGrace());
  }

  /** True once the grace has ended: reads reject. */
  get graceOver(): boolean {
    return this.#graceOver;
  }

  /**
   * Reads like `Deno.Conn.read`.
   *
   * @throws {DrainGraceOverError} once the grace after a drain is over.
   */
  async read(p: Uint8Array): Promise<number | null> {
    if (this.#graceOver) throw new DrainGraceOverError(this.#graceMs);
    const pending = this.#conn.conn.read(p);
    // The read may lose the race and fail later, when the socket closes.
    pending.catch(() => {});
    try {
      const n = await Promise.race([pending, this.#over.promise]);
      if (n === null) this.#conn.eof = true;
      return n;
    } finally {
      this.#conn.activity++;
      this.#conn.reads++;
    }
  }

  /** Stops the grace timer (the connection is done). Safe to call twice. */
  [Symbol.dispose](): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #startGrace(): void {
    if (this.#timer !== undefined || this.#graceOver || this.#disposed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#graceOver = true;
      this.#over.reject(new DrainGraceOverError(this.#graceMs));
    }, this.#graceMs);
  }
}
