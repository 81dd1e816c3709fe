/**
 * The seqnum protocol's client side: connections that each send increasing
 * 4-byte big-endian sequence numbers at a steady pace and check every echo,
 * plus optional fresh connections opened on a timer, to prove that a server
 * switch loses, duplicates, resets and refuses nothing.
 *
 * @module
 */

import { SEQNUM_BYTES } from "./seqnum_server.ts";
import { errorMessage } from "../common/mod.ts";

/** Options of {@linkcode SeqnumClient.connect}. */
export interface SeqnumClientOptions {
  /** The server's address. */
  hostname: string;
  /** The server's port. */
  port: number;
  /** Long-lived connections. @default {1} */
  conns?: number;
  /**
   * Each connection sends its next seqnum this long after the previous one
   * (or, if the echo comes later, as soon as it comes), in ms; 0 sends as
   * soon as the echo arrives.
   * @default {100}
   */
  intervalMs?: number;
  /** Seqnums per connection; 0 sends until {@linkcode SeqnumClient.stop}. @default {0} */
  count?: number;
  /**
   * Also open a fresh connection this often, in ms, send it one seqnum,
   * check the echo and close it; 0 opens none.
   * @default {0}
   */
  newConnIntervalMs?: number;
  /** Longest wait for an echo or a connect, in ms. @default {5000} */
  timeoutMs?: number;
  /** Called for every echo: when its seqnum was sent (`performance.now()`) and the round trip in ms. */
  onSample?: (sentAt: number, rttMs: number) => void;
}

/** What a run saw. */
export interface SeqnumReport {
  /** Long-lived connections. */
  conns: number;
  /** Seqnums sent on them. */
  sent: number;
  /** Echoes received and checked. */
  received: number;
  /** Longest round trip, in ms. */
  maxRttMs: number;
  /** 99th percentile round trip, in ms (0.01 ms resolution below 100 ms). */
  p99RttMs: number;
  /** Median round trip, in ms. */
  p50RttMs: number;
  /** Fresh connections opened (each: connect, one seqnum, close). */
  newConns: number;
  /** Fresh connections refused, reset, cut or not echoed in time. */
  newConnsFailed: number;
  /** Longest fresh connection, connect to echo, in ms. */
  maxNewConnMs: number;
  /** How long the run took, in ms. */
  elapsedMs: number;
  /** The first failure, such as `Seqnum discontinuity !!! (41 != 42)`; undefined when clean. */
  failure: string | undefined;
}

/** Round-trip histogram: 0.01 ms steps below 100 ms, 1 ms steps to 10 min. */
class Histogram {
  readonly #fine = new Uint32Array(10000);
  readonly #coarse = new Uint32Array(600000);
  count = 0;
  max = 0;

  add(ms: number): void {
    this.count++;
    if (ms > this.max) this.max = ms;
    if (ms < 100) this.#fine[Math.floor(ms * 100)]!++;
    else this.#coarse[Math.min(599999, Math.floor(ms))]!++;
  }

  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(this.count * p);
    let seen = 0;
    for (let i = 0; i < this.#fine.length; i++) {
      seen += this.#fine[i]!;
      if (seen >= rank) return Math.min(this.max, (i + 1) / 100);
    }
    for (let i = 100; i < this.#coarse.length; i++) {
      seen += this.#coarse[i]!;
      if (seen >= rank) return Math.min(this.max, i + 1);
    }
    return this.max;
  }
}

interface Lane {
  readonly conn: Deno.TcpConn;
  readonly index: number;
  /** The next seqnum to send. */
  next: number;
  /** When the outstanding seqnum was sent; -1 when none is outstanding. */
  sentAt: number;
  /** When the next may go. */
  dueAt: number;
  done: boolean;
}

/**
 * A seqnum load: N connections sending at a pace, each echo checked. Any
 * gap, duplicate, reset, end of file, missing echo or failed fresh
 * connection ends the run with a failure.
 *
 * @example
 * ```ts ignore
 * import { SeqnumClient } from "@tcpkit/tcpkit/takeover";
 *
 * const client = await SeqnumClient.connect({ hostname: "127.0.0.1", port: 1234, conns: 10, intervalMs: 10 });
 * setTimeout(() => client.stop(), 5000);
 * const report = await client.run();
 * console.log(report.failure ?? `${report.received} echoes, max ${report.maxRttMs} ms`);
 * ```
 */
export class SeqnumClient {
  readonly #options: Required<Omit<SeqnumClientOptions, "onSample">> & {
    onSample: SeqnumClientOptions["onSample"];
  };
  readonly #lanes: Lane[];
  readonly #histogram = new Histogram();
  readonly #done = Promise.withResolvers<void>();
  readonly #newConnOps = new Set<Promise<void>>();
  #sent = 0;
  #received = 0;
  #newConns = 0;
  #newConnsFailed = 0;
  #maxNewConnMs = 0;
  #failure: string | undefined;
  #stopping = false;
  #finished = false;
  #started = 0;
  #stoppedAt = 0;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #newConnTimer: ReturnType<typeof setInterval> | undefined;
  #readers: Promise<void>[] = [];

  private constructor(
    options: SeqnumClientOptions,
    conns: Deno.TcpConn[],
  ) {
    this.#options = {
      hostname: options.hostname,
      port: options.port,
      conns: conns.length,
      intervalMs: options.intervalMs ?? 100,
      count: options.count ?? 0,
      newConnIntervalMs: options.newConnIntervalMs ?? 0,
      timeoutMs: options.timeoutMs ?? 5000,
      onSample: options.onSample,
    };
    this.#lanes = conns.map((conn, index) => ({
      conn,
      index,
      next: 0,
      sentAt: -1,
      dueAt: 0,
      done: false,
    }));
  }

  /**
   * Opens the connections (64 at a time).
   *
   * @param options Address, load shape, limits.
   * @returns The client, ready to {@linkcode SeqnumClient.run}.
   * @throws {RangeError} For out-of-range options.
   * @throws {Deno.errors.ConnectionRefused} And other connect errors; the
   * connections already open are closed.
   */
  static async connect(options: SeqnumClientOptions): Promise<SeqnumClient> {
    const count = options.conns ?? 1;
    for (
      const [name, value, min] of [
        ["conns", count, 1],
        ["intervalMs", options.intervalMs ?? 100, 0],
        ["count", options.count ?? 0, 0],
        ["newConnIntervalMs", options.newConnIntervalMs ?? 0, 0],
        ["timeoutMs", options.timeoutMs ?? 5000, 1],
      ] as const
    ) {
      if (!Number.isSafeInteger(value) || value < min) {
        throw new RangeError(
          `Invalid ${name}: expected an integer of at least ${min}, got ${value}`,
        );
      }
    }
    const conns: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < count; i += 64) {
        const batch = Math.min(64, count - i);
        const opened = await Promise.allSettled(
          Array.from({ length: batch }, () =>
            connectWithin(
              options.hostname,
              options.port,
              options.timeoutMs ?? 5000,
            )),
        );
        for (const result of opened) {
          if (result.status === "fulfilled") conns.push(result.value);
        }
        const failed = opened.find((result) => result.status === "rejected");
        if (failed !== undefined) {
          throw (failed as PromiseRejectedResult).reason;
        }
      }
    } catch (error) {
      for (const conn of conns) conn.close();
      throw error;
    }
    for (const conn of conns) conn.setNoDelay(true);
    return new SeqnumClient(options, conns);
  }

  /** Counts so far. */
  get stats(): {
    sent: number;
    received: number;
    newConns: number;
    maxRttMs: number;
  } {
    return {
      sent: this.#sent,
      received: this.#received,
      newConns: this.#newConns,
      maxRttMs: this.#histogram.max,
    };
  }

  /**
   * Sends and checks until every connection has sent `count` seqnums, or
   * {@linkcode SeqnumClient.stop} is called, or something fails.
   *
   * @returns The report; `failure` says what went wrong, if anything.
   */
  async run(): Promise<SeqnumReport> {
    const { intervalMs, newConnIntervalMs, conns } = this.#options;
    this.#started = performance.now();
    this.#lanes.forEach((lane) => {
      // Spread the connections over one interval.
      lane.dueAt = this.#started + (intervalMs * lane.index) / conns;
    });
    this.#readers = this.#lanes.map((lane) => this.#read(lane));
    const tickMs = Math.min(20, Math.max(1, Math.floor(intervalMs / 5)));
    this.#ticker = setInterval(() => this.#tick(), tickMs);
    if (newConnIntervalMs > 0) {
      this.#newConnTimer = setInterval(() => {
        if (this.#stopping) return;
        const op = this.#newConn().finally(() => this.#newConnOps.delete(op));
        this.#newConnOps.add(op);
      }, newConnIntervalMs);
    }
    this.#tick();
    await this.#done.promise;
    clearInterval(this.#ticker);
    clearInterval(this.#newConnTimer);
    await Promise.allSettled([...this.#newConnOps]);
    for (const lane of this.#lanes) {
      try {
        lane.conn.close();
      } catch {
        // Closed already.
      }
    }
    await Promise.allSettled(this.#readers);
    return {
      conns,
      sent: this.#sent,
      received: this.#received,
      maxRttMs: this.#histogram.max,
      p99RttMs: this.#histogram.percentile(0.99),
      p50RttMs: this.#histogram.percentile(0.5),
      newConns: this.#newConns,
      newConnsFailed: this.#newConnsFailed,
      maxNewConnMs: this.#maxNewConnMs,
      elapsedMs: (this.#stoppedAt || performance.now()) - this.#started,
      failure: this.#failure,
    };
  }

  /**
   * Stops sending; the run ends once the echoes still awaited arrive (or
   * time out). Safe to call more than once.
   */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#stoppedAt = performance.now();
    this.#checkDone();
  }

  #fail(message: string): void {
    if (this.#failure !== undefined) return;
    this.#failure = message;
    this.#stopping = true;
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stoppedAt ||= performance.now();
    this.#done.resolve();
  }

  #checkDone(): void {
    if (this.#finished) return;
    const idle = this.#lanes.every((lane) => lane.done || lane.sentAt < 0);
    if (this.#stopping && idle) this.#finish();
  }

  #tick(): void {
    if (this.#finished) return;
    const now = performance.now();
    const { timeoutMs } = this.#options;
    for (const lane of this.#lanes) {
      if (lane.done) continue;
      if (lane.sentAt >= 0) {
        if (now - lane.sentAt > timeoutMs) {
          this.#fail(
            `No echo of seqnum ${lane.next} within ${timeoutMs} ms on connection ${lane.index}`,
          );
          return;
        }
        continue;
      }
      if (!this.#stopping && lane.dueAt <= now) this.#send(lane, now);
    }
    this.#checkDone();
  }

  #send(lane: Lane, now: number): void {
    const frame = new Uint8Array(SEQNUM_BYTES);
    new DataView(frame.buffer).setUint32(0, lane.next >>> 0);
    lane.sentAt = now;
    this.#sent++;
    lane.conn.write(frame).catch((error) => {
      if (!this.#finished) {
        this.#fail(
          `Seqnum discontinuity !!! (${describeError(error)} != ${lane.next})`,
        );
      }
    });
  }

  async #read(lane: Lane): Promise<void> {
    const buffer = new Uint8Array(4096);
    const view = new DataView(buffer.buffer);
    let have = 0;
    while (!this.#finished) {
      let n: number | null;
      try {
        n = await lane.conn.read(buffer.subarray(have));
      } catch (error) {
        if (!this.#finished) {
          this.#fail(
            `Seqnum discontinuity !!! (${
              describeError(error)
            } != ${lane.next})`,
          );
        }
        return;
      }
      if (n === null) {
        if (!this.#finished) {
          this.#fail(`Seqnum discontinuity !!! (EOF != ${lane.next})`);
        }
        return;
      }
      have += n;
      const now = performance.now();
      let offset = 0;
      for (; offset + SEQNUM_BYTES <= have; offset += SEQNUM_BYTES) {
        const got = view.getUint32(offset);
        const expected = lane.next >>> 0;
        if (lane.sentAt < 0 || got !== expected) {
          this.#fail(`Seqnum discontinuity !!! (${got} != ${expected})`);
          return;
        }
        const rtt = now - lane.sentAt;
        this.#histogram.add(rtt);
        this.#options.onSample?.(lane.sentAt, rtt);
        this.#received++;
        lane.next++;
        const { count, intervalMs } = this.#options;
        lane.dueAt = lane.sentAt + intervalMs;
        lane.sentAt = -1;
        if (count > 0 && lane.next >= count) {
          lane.done = true;
          if (this.#lanes.every((other) => other.done)) this.#finish();
        } else if (!this.#stopping && lane.dueAt <= now) {
          this.#send(lane, now);
        }
      }
      if (offset > 0) {
        buffer.copyWithin(0, offset, have);
        have -= offset;
      }
      if (this.#stopping) this.#checkDone();
    }
  }

  async #newConn(): Promise<void> {
    const { hostname, port, timeoutMs } = this.#options;
    const index = this.#newConns++;
    const started = performance.now();
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await connectWithin(hostname, port, timeoutMs);
      const frame = new Uint8Array(SEQNUM_BYTES);
      new DataView(frame.buffer).setUint32(0, index >>> 0);
      await conn.write(frame);
      const back = new Uint8Array(SEQNUM_BYTES);
      let have = 0;
      const c = conn;
      await withTimeout(
        (async () => {
          while (have < SEQNUM_BYTES) {
            const n = await c.read(back.subarray(have));
            if (n === null) throw new Error("EOF");
            have += n;
          }
        })(),
        timeoutMs,
        "echo",
      );
      const got = new DataView(back.buffer).getUint32(0);
      if (got !== index >>> 0) {
        throw new Error(`Seqnum discontinuity !!! (${got} != ${index})`);
      }
      const ms = performance.now() - started;
      if (ms > this.#maxNewConnMs) this.#maxNewConnMs = ms;
    } catch (error) {
      this.#newConnsFailed++;
      if (!this.#finished) {
        this.#fail(`New connection ${index} failed: ${describeError(error)}`);
      }
    } finally {
      try {
        conn?.close();
      } catch {
        // Closed already.
      }
    }
  }
}

function describeError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionReset) return "reset";
  if (error instanceof Deno.errors.BrokenPipe) return "broken pipe";
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  return errorMessage(error);
}

function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} timed out after ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Connects, or fails after `ms`; a connection that comes late is closed. */
function connectWithin(
  hostname: string,
  port: number,
  ms: number,
): Promise<Deno.TcpConn> {
  const connecting = Deno.connect({ hostname, port });
  return withTimeout(connecting, ms, "connect").catch((error) => {
    connecting.then((late) => late.close(), () => {});
    throw error;
  });
}
