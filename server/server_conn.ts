/**
 * One accepted connection as the server machinery sees it: Deno's conn plus
 * the bookkeeping for idle timeouts, draining and polite closes.
 */
import { writeAll } from "../common/mod.ts";

const encoder = new TextEncoder();

/** Message sent to a connection closed for inactivity (tcp-echo's text). */
export const IDLE_MESSAGE = "Closing connection due to inactivity\n";

/** Bounds of {@linkcode ServerConn.lingeringClose}. */
export interface LingeringCloseOptions {
  /** Stop discarding input after this long, in ms. @default {2000} */
  timeoutMs?: number;
  /** Stop discarding input after this many bytes. @default {16777216} */
  maxBytes?: number;
}

/**
 * A server-side connection. Reads and writes count as activity; `busy`
 * marks a command in progress, which the idle sweep leaves alone.
 */
export class ServerConn {
  /** The underlying Deno connection. */
  readonly conn: Deno.TcpConn;
  /** The peer, formatted for logs. */
  readonly peer: string;
  /** Sequence number of this connection on its server, from 1. */
  readonly id: number;
  /** When the connection last read or wrote, `performance.now()` ms. */
  lastActivity: number = performance.now();
  /** True while a command runs: the idle timeout does not apply. */
  busy = false;
  #reading = false;
  #closed = false;
  #draining = false;
  #onDrain: (() => void) | undefined;

  /** Wraps an accepted connection. */
  constructor(conn: Deno.TcpConn, id: number, peer: string) {
    this.conn = conn;
    this.id = id;
    this.peer = peer;
  }

  /** True once {@linkcode ServerConn.close} ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while a read is pending, i.e. the peer owes us bytes. */
  get reading(): boolean {
    return this.#reading;
  }

  /** True once the server asked this connection to finish. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Reads like `Deno.Conn.read`, recording activity. */
  async read(p: Uint8Array): Promise<number | null> {
    this.#reading = true;
    try {
      const n = await this.conn.read(p);
      this.lastActivity = performance.now();
      return n;
    } finally {
      this.#reading = false;
    }
  }

  /** Writes like `Deno.Conn.write`, recording activity. */
  async write(p: Uint8Array): Promise<number> {
    const n = await this.conn.write(p);
    this.lastActivity = performance.now();
    return n;
  }

  /** Writes all of a string or bytes. */
  writeAll(data: string | Uint8Array): Promise<void> {
    return writeAll(
      this,
      typeof data === "string" ? encoder.encode(data) : data,
    );
  }

  /**
   * Asks the connection to finish: a pending read is cut at once (the peer
   * was idle), otherwise the handler ends after the reply in progress.
   */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    if (this.#reading) this.close();
    this.#onDrain?.();
  }

  /** Registers what to do when a drain starts (e.g. stop a CPU loop). */
  onDrain(callback: () => void): void {
    this.#onDrain = callback;
  }

  /** Closes with a FIN. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by a failed I/O: nothing left to release.
    }
  }

  /**
   * Sends a last message, then closes. The write is bounded in time so a
   * peer that reads nothing cannot hold the connection.
   */
  async closeWithMessage(message: string, timeoutMs = 1000): Promise<void> {
    if (this.#closed) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.writeAll(message).catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
    this.close();
  }

  /**
   * Sends a last message, half-closes, and discards what the peer still
   * sends for a bounded time before closing. Closing with unread input
   * makes the kernel send an RST, which can destroy the message before the
   * peer reads it.
   */
  async lingeringClose(
    message: string,
    options: LingeringCloseOptions = {},
  ): Promise<void> {
    const { timeoutMs = 2000, maxBytes = 16 << 20 } = options;
    if (this.#closed) return;
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      await this.writeAll(message);
      await this.conn.closeWrite();
      const sink = new Uint8Array(16384);
      let discarded = 0;
      while (discarded < maxBytes) {
        const n = await this.conn.read(sink);
        if (n === null) break;
        discarded += n;
      }
    } catch {
      // Reset or closed by the timer: either way we are done.
    } finally {
      clearTimeout(timer);
      this.close();
    }
  }
}
