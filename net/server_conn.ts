/**
 * One accepted connection as the server machinery sees it: Deno's conn plus
 * the bookkeeping for idle timeouts, draining and server-side closes.
 */
import { formatAddr, writeAll } from "../common/mod.ts";
import { closeWithReset } from "../ffi/mod.ts";
import { FdConn, type StreamConn } from "./fd_conn.ts";

const encoder = new TextEncoder();

/**
 * Bends a connection's writes: tcpservd's faults (delays, drips, cuts)
 * reach the listener machinery only through this hook.
 */
export interface WriteHook {
  /** Writes all of `bytes` to `conn`, in its own way. */
  write(conn: ServerConn, bytes: Uint8Array): Promise<void>;
}

/** Bounds of {@linkcode ServerConn.lingeringClose}. */
export interface LingeringCloseOptions {
  /** Stop discarding input after this long, in ms. @default {2000} */
  timeoutMs?: number;
  /** Stop discarding input after this many bytes. @default {16777216} */
  maxBytes?: number;
}

/** Options of {@linkcode ServerConn}. */
export interface ServerConnOptions {
  /** Closes the server starts (idle, drain) send an RST instead of a FIN. @default {false} */
  resetOnClose?: boolean;
}

/**
 * A server-side connection. Reads and writes bump an activity counter that
 * the idle sweep compares between ticks (cheaper than a clock per read);
 * `busy` marks a command in progress, which the sweep leaves alone.
 */
export class ServerConn {
  /** The underlying connection: Deno's, or an adopted fd's ({@linkcode FdConn}). */
  readonly conn: StreamConn;
  /** Sequence number of this connection on its server, from 1. */
  readonly id: number;
  /** Settles when the server is done with the connection (set by the server). */
  done: Promise<void> = Promise.resolve();
  /** Count of reads and writes so far; hot loops may bump it themselves. */
  activity = 0;
  /** Count of completed reads; hot loops may bump it themselves. */
  reads = 0;
  /** True once a read returned end of stream: the peer closed its side. */
  eof = false;
  /** When set, every `writeAll` goes through it (tcpservd's faults). */
  writeHook: WriteHook | undefined;
  /** True while a read is pending, i.e. the peer owes us bytes. Hot loops set it themselves. */
  reading = false;
  /** When the write in progress began (ms), if one is: a peer that stops reading shows here. */
  writingSince: number | undefined;
  /** Whether each read counts as activity; a line protocol turns this off and counts lines. */
  readsAreActivity = true;
  /** True while a command runs: the idle timeout does not apply. */
  busy = false;
  /** Activity count at the last idle sweep. */
  idleSeen: number = -1;
  /** When the activity count last changed, as the idle sweep saw it (ms). */
  idleSince = 0;
  readonly #resetOnClose: boolean;
  #peer: string | undefined;
  #closed = false;
  #draining = false;
  #onDrain: (() => void) | undefined;
  #drainWaiter: PromiseWithResolvers<void> | undefined;

  /** Wraps an accepted connection. */
  constructor(conn: StreamConn, id: number, options: ServerConnOptions = {}) {
    this.conn = conn;
    this.id = id;
    this.#resetOnClose = options.resetOnClose ?? false;
  }

  /** The peer, formatted for logs; built on first use (10,000 idle conns need no strings). */
  get peer(): string {
    return this.#peer ??= formatAddr(this.conn.remoteAddr);
  }

  /** True once the connection was closed by this side. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once the server asked this connection to finish. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Reads like `Deno.Conn.read`, recording activity. */
  async read(p: Uint8Array): Promise<number | null> {
    this.reading = true;
    try {
      const n = await this.conn.read(p);
      if (n === null) this.eof = true;
      return n;
    } finally {
      this.reading = false;
      if (this.readsAreActivity) this.activity++;
      this.reads++;
    }
  }

  /** Writes like `Deno.Conn.write`, recording activity and how long a write waits. */
  async write(p: Uint8Array): Promise<number> {
    this.writingSince = performance.now();
    try {
      const n = await this.conn.write(p);
      this.activity++;
      return n;
    } finally {
      this.writingSince = undefined;
    }
  }

  /** Writes all of a string or bytes. */
  writeAll(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    return this.writeHook
      ? this.writeHook.write(this, bytes)
      : writeAll(this, bytes);
  }

  /**
   * Asks the connection to finish: a pending read is cut at once (the peer
   * was idle), otherwise the handler ends after the reply in progress.
   */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    if (this.reading) this.closeByServer();
    this.#onDrain?.();
    this.#drainWaiter?.resolve();
  }

  /** Resolves when the server asks the connection to finish (made on demand). */
  whenDraining(): Promise<void> {
    this.#drainWaiter ??= Promise.withResolvers<void>();
    if (this.#draining) this.#drainWaiter.resolve();
    return this.#drainWaiter.promise;
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

  /** Closes as the server's policy says: a FIN, or an RST with `resetOnClose`. */
  closeByServer(): void {
    if (this.#resetOnClose) this.closeWithReset();
    else this.close();
  }

  /** Closes with an RST and no FIN (SO_LINGER {1,0}). Safe to call twice. */
  closeWithReset(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.conn instanceof FdConn) this.conn.closeWithReset();
      // The only other kind the machinery makes: Deno's own.
      else closeWithReset(this.conn as Deno.TcpConn);
    } catch {
      // The socket is gone already; make sure Deno's resource is too.
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  /**
   * Sends a last message, then closes as the server's policy says. The
   * write is bounded in time so a peer that reads nothing cannot hold the
   * connection.
   */
  async closeWithMessage(message: string, timeoutMs = 1000): Promise<void> {
    if (this.#closed) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.writeAll(message).catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
    this.closeByServer();
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
