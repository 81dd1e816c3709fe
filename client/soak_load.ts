/**
 * The load engine of `tcpcli soak`: keeps N connections open, sends an
 * open-loop schedule of messages over them (message i is due at
 * start + i/rate and its latency counts from then), replaces connections at
 * the connect rate, and records every answer and failure in a
 * {@linkcode SoakTimeline}.
 *
 * Each message goes to connection `i % N`. A message waits there while its
 * connection is down, so a stall shows as latency or as a time-out, never
 * as a lower send rate (coordinated omission).
 *
 * @module
 */
import { errorMessage, writeAll } from "../common/mod.ts";
import { EchoPayload, type SoakPayload } from "./soak_payload.ts";
import { MAX_NODES, OTHER_NODE, SoakTimeline } from "./soak_timeline.ts";

/**
 * How long a failed connection waits before soak tries again, in ms. A
 * connection the server closes (or answers with something else than a
 * reply) before its first reply counts as a failure too, so a server that
 * accepts and closes at once costs each slot at most one connection per
 * back-off, never a tight loop.
 */
export const REOPEN_BACKOFF_MS = 100;
/** How long auto mode waits for a `> ` greeting on the first connection. */
export const GREETING_WAIT_MS = 500;
/** Longest reply line accepted, in bytes. */
export const MAX_LINE_BYTES = 65536;

/** Options of {@linkcode runSoakLoad}. */
export interface SoakLoadOptions {
  /** Host to load. */
  hostname: string;
  /** Its port. */
  port: number;
  /** Connections kept open. */
  conns: number;
  /** Messages per second over all connections. */
  rate: number;
  /** New connections per second. */
  connectRate: number;
  /** Messages per connection before it is replaced (0: no limit). */
  perConn: number;
  /** Messages in the run. */
  messages: number;
  /** Reply timeout, in ms from when the message was due. */
  timeoutMs: number;
  /** The payload, or a function that picks it given the first bytes the server sent (null: none). */
  payload: SoakPayload | ((greeting: Uint8Array | null) => SoakPayload);
  /** Count replies per node. */
  byNode: boolean;
  /** Ends the schedule early: what is due by then still counts. */
  stop?: AbortSignal;
  /**
   * Told once per kind of unusual connection error (not refused or reset),
   * and once when --by-node meets more than MAX_NODES nodes.
   */
  onError?: (message: string) => void;
  /** Called once the load starts: its start (performance.now() ms) and timeline. */
  onStart?: (t0: number, timeline: SoakTimeline) => void;
}

/** Ways an echo reply was wrong. */
export interface EchoFaults {
  /** Replies that were not a well-formed echo of any message. */
  corrupt: number;
  /** Replies to a message already answered. */
  duplicate: number;
  /** Replies that overtook an earlier message on their connection. */
  reordered: number;
  /** Replies to a message not sent on that connection, or to none. */
  unexpected: number;
}

/** What {@linkcode runSoakLoad} measured. */
export interface SoakLoadResult {
  /** The payload mode used (auto resolved). */
  payload: SoakPayload;
  /** Steps, totals and latencies. */
  timeline: SoakTimeline;
  /** Details of wrong replies. */
  faults: EchoFaults;
  /** When the load started (performance.now() ms). */
  t0: number;
  /** Wall clock at the start (ms since the epoch). */
  startedAt: number;
  /** From the start to the last answer or failure, in ms. */
  elapsedMs: number;
  /** Messages the schedule held. */
  messages: number;
}

/** A queue of message indices. */
class IndexQueue {
  #items: number[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(index: number): void {
    this.#items.push(index);
  }

  peek(): number {
    return this.#items[this.#head]!;
  }

  shift(): number {
    const index = this.#items[this.#head++]!;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return index;
  }

  /** Whether `index` is in the queue. */
  includes(index: number): boolean {
    return this.#items.indexOf(index, this.#head) >= 0;
  }

  /** Empties the queue, returning what it held in order. */
  drain(): number[] {
    const all = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return all;
  }
}

type SlotState = "down" | "connecting" | "greeting" | "up";

/** One of the N connection slots. */
class Slot {
  state: SlotState = "down";
  conn: Deno.TcpConn | undefined;
  /** Bumped on every new connection: events of an older one are ignored. */
  generation = 0;
  readonly queue = new IndexQueue();
  readonly outstanding = new IndexQueue();
  /** Sent, overtaken by a later echo, not answered yet (echo mode). */
  skipped: number[] = [];
  sentOnConn = 0;
  reopenAt = 0;
  writing = false;
  retiring = false;
  carry: Uint8Array | undefined;
  connectStarted = 0;
  /** The connection gave a right reply: a close after it is no refusal. */
  replied = false;
}

const MSG_DONE = 2;
const MSG_SENT = 1;

/** Whether an error is a plain reset, too common to report one by one. */
function isReset(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionRefused;
}

/**
 * Whether a failed connect was in fact accepted and then reset: a server
 * that resets at once can do so before Deno.connect returns.
 */
function acceptedThenBroken(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionAborted;
}

/** Runs the load to its end and returns what it measured. */
export async function runSoakLoad(
  options: SoakLoadOptions,
): Promise<SoakLoadResult> {
  const engine = new SoakEngine(options);
  return await engine.run();
}

class SoakEngine {
  readonly #o: SoakLoadOptions;
  #payload: SoakPayload | undefined;
  readonly #timeline: SoakTimeline;
  readonly #faults: EchoFaults = {
    corrupt: 0,
    duplicate: 0,
    reordered: 0,
    unexpected: 0,
  };
  readonly #slots: Slot[];
  readonly #state: Uint8Array;
  readonly #msPerMessage: number;
  #t0 = 0;
  #next = 0;
  #resolved = 0;
  #nextChurn = Infinity;
  #churnSlot = 0;
  #lastTimeoutScan = 0;
  #finished = false;
  #wake: (() => void) | undefined;
  #sendBuffer: Uint8Array;
  readonly #noted = new Set<string>();
  /** Messages in the schedule; cut short by `stop`. */
  #total: number;

  constructor(options: SoakLoadOptions) {
    this.#o = options;
    this.#timeline = new SoakTimeline(
      options.byNode,
      (node) =>
        options.onError?.(
          `more than ${MAX_NODES} nodes answered (the latest: ${
            JSON.stringify(node.slice(0, 80))
          }): the rest are counted as ${OTHER_NODE}`,
        ),
    );
    this.#slots = Array.from({ length: options.conns }, () => new Slot());
    this.#state = new Uint8Array(options.messages);
    this.#msPerMessage = 1000 / options.rate;
    this.#sendBuffer = new Uint8Array(4096);
    this.#total = options.messages;
    options.stop?.addEventListener("abort", () => {
      // No more messages fall due; those sent still get their answers.
      this.#total = Math.min(this.#total, this.#next);
      this.#wakeUp();
    });
    if (typeof options.payload !== "function") this.#payload = options.payload;
  }

  /** ms since the load started. */
  #now(): number {
    return performance.now() - this.#t0;
  }

  #due(index: number): number {
    return index * this.#msPerMessage;
  }

  get #p(): SoakPayload {
    return this.#payload!;
  }

  async run(): Promise<SoakLoadResult> {
    const o = this.#o;
    // Before the start, times are negative; failures then count at 0.
    this.#t0 = performance.now();
    // Opening is bounded by the timeout (connect and greeting) and by Ctrl-C.
    if (this.#payload === undefined) await this.#untilStopped(this.#detect());
    if (this.#payload === undefined) this.#payload = this.#pick()(null);
    await this.#untilStopped(this.#openAll());
    this.#t0 = performance.now();
    const startedAt = Date.now();
    // Stopped while opening: the load never started.
    if (!o.stop?.aborted) o.onStart?.(this.#t0, this.#timeline);
    if (o.connectRate > 0) this.#nextChurn = 1000 / o.connectRate;
    const hardCap = this.#due(o.messages) + o.timeoutMs + 5000;
    while (!this.#finished) {
      const now = this.#now();
      this.#tick(now);
      if (this.#resolved >= this.#total && this.#next >= this.#total) break;
      if (now > hardCap) {
        this.#giveUp(now);
        break;
      }
      const wait = this.#next < this.#total
        ? Math.min(10, Math.max(1, this.#due(this.#next) - now))
        : 10;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, wait);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
    const elapsedMs = this.#now();
    this.#finished = true;
    for (const slot of this.#slots) this.#close(slot);
    this.#timeline.finish(elapsedMs);
    return {
      payload: this.#p,
      timeline: this.#timeline,
      faults: this.#faults,
      t0: this.#t0,
      startedAt,
      elapsedMs,
      messages: this.#total,
    };
  }

  /** Resolves when `work` does or when the run is stopped, whichever is first. */
  async #untilStopped(work: Promise<void>): Promise<void> {
    const stop = this.#o.stop;
    if (stop === undefined) return await work;
    if (stop.aborted) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    stop.addEventListener("abort", () => resolve(), { once: true });
    await Promise.race([work, promise]);
  }

  #pick(): (g: Uint8Array | null) => SoakPayload {
    return this.#o.payload as (g: Uint8Array | null) => SoakPayload;
  }

  // Auto mode: the first connection tells: a `> ` greeting is tcpservd.
  async #detect(): Promise<void> {
    const pick = this.#pick();
    const slot = this.#slots[0]!;
    let conn: Deno.TcpConn;
    try {
      conn = await this.#connectBounded();
    } catch {
      // Nothing to detect from: the run counts the refusals.
      this.#payload ??= pick(null);
      return;
    }
    const buf = new Uint8Array(256);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), GREETING_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (this.#payload !== undefined) {
      // Stopped meanwhile: the run has ended without it.
      conn.close();
      return;
    }
    this.#payload = pick(n === null ? null : buf.slice(0, n));
    if (n === null || !this.#payload.prompted) {
      // An unread greeting of another server, or a pending read, would
      // confuse the reader: start this slot afresh.
      try {
        conn.close();
      } catch { /* closed */ }
      return;
    }
    // The greeting was read: the connection is ready to use.
    slot.conn = conn;
    slot.generation++;
    slot.state = "up";
    slot.replied = false;
    this.#timeline.count("opened", 0);
    this.#read(slot, conn, slot.generation, true);
  }

  async #connectBounded(): Promise<Deno.TcpConn> {
    const o = this.#o;
    const connecting = Deno.connect({ hostname: o.hostname, port: o.port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Deno.errors.TimedOut("connect timed out")),
        o.timeoutMs,
      );
    });
    try {
      return await Promise.race([connecting, late]);
    } catch (error) {
      // Close a connection that arrives after we gave up on it.
      connecting.then((c) => c.close(), () => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #openAll(): Promise<void> {
    const ready = this.#slots.map((slot) =>
      slot.state === "up" ? Promise.resolve() : this.#open(slot)
    );
    // Bounded: a connect gives up after the timeout, a greeting too.
    await Promise.all(ready);
  }

  /** Opens a connection in `slot`; resolves once it is up or failed. */
  #open(slot: Slot): Promise<void> {
    slot.state = "connecting";
    slot.retiring = false;
    slot.sentOnConn = 0;
    slot.carry = undefined;
    slot.replied = false;
    const generation = ++slot.generation;
    slot.connectStarted = this.#now();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#connectBounded().then((conn) => {
      if (slot.generation !== generation || this.#finished) {
        conn.close();
        resolve();
        return;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* not fatal */ }
      slot.conn = conn;
      this.#timeline.count("opened", Math.max(0, this.#now()));
      if (this.#p.prompted) {
        slot.state = "greeting";
        // The open (connect and greeting) is bounded by the timeout: a
        // server that accepts and never greets (stopped, overloaded) is a
        // failed connection, not a wait without end.
        const left = this.#o.timeoutMs - (this.#now() - slot.connectStarted);
        const timer = setTimeout(() => {
          if (slot.generation === generation && slot.state === "greeting") {
            this.#broken(slot, "refused", this.#now());
          }
          resolve();
        }, Math.max(0, left));
        this.#read(slot, conn, generation, false, () => {
          clearTimeout(timer);
          resolve();
        });
        return;
      }
      slot.state = "up";
      this.#read(slot, conn, generation, true);
      this.#flush(slot);
      resolve();
    }, (error) => {
      if (slot.generation === generation && !this.#finished) {
        this.#noteError(error);
        const t = Math.max(0, this.#now());
        if (acceptedThenBroken(error)) {
          // Accepted, then reset before Deno handed the connection over.
          this.#timeline.count("opened", t);
          this.#timeline.count("reset", t);
        } else {
          this.#timeline.count("refused", t);
        }
        slot.state = "down";
        slot.reopenAt = this.#now() + REOPEN_BACKOFF_MS;
      }
      resolve();
    });
    return promise;
  }

  #close(slot: Slot): void {
    slot.generation++;
    slot.state = "down";
    slot.writing = false;
    slot.carry = undefined;
    const conn = slot.conn;
    slot.conn = undefined;
    if (conn !== undefined) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
  }

  /**
   * The connection broke (reset), failed before it served (refused: closed
   * or answered otherwise before its greeting or first reply, or no greeting
   * within the timeout), or is stuck (timeout): its outstanding messages are
   * lost or timed out, and it is reopened after the back-off.
   */
  #broken(slot: Slot, how: "reset" | "refused" | "timeout", now: number): void {
    const t = Math.max(0, now);
    if (how !== "timeout") this.#timeline.count(how, t);
    const owed = [...slot.skipped, ...slot.outstanding.drain()];
    slot.skipped = [];
    for (const index of owed) {
      this.#fail(index, how === "timeout" ? "timeout" : "lost");
    }
    this.#close(slot);
    slot.reopenAt = now + REOPEN_BACKOFF_MS;
  }

  /**
   * Message `index` failed. A time-out counts when the message was due (it
   * is seen only `timeout` later); a loss or a wrong reply when it is seen.
   */
  #fail(index: number, kind: "lost" | "timeout" | "wrong"): void {
    if (this.#state[index] === MSG_DONE) return;
    this.#state[index] = MSG_DONE;
    this.#resolved++;
    const t = kind === "timeout" ? this.#due(index) : this.#now();
    this.#timeline.count(kind, Math.max(0, t));
  }

  async #read(
    slot: Slot,
    conn: Deno.TcpConn,
    generation: number,
    greeted: boolean,
    onGreeting?: () => void,
  ): Promise<void> {
    const buf = new Uint8Array(65536);
    let isGreeted = greeted;
    try {
      while (true) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch (error) {
          if (slot.generation !== generation) return;
          if (error instanceof Deno.errors.BadResource) return; // We closed it.
          // Reset, broken pipe, or any other error: the connection is gone.
          this.#noteError(error);
          this.#broken(slot, "reset", this.#now());
          return;
        }
        if (slot.generation !== generation) return;
        if (n === null) {
          this.#eof(slot, isGreeted);
          return;
        }
        let data: Uint8Array = buf.subarray(0, n);
        if (!isGreeted) {
          // The greeting `> ` (tcpservd) comes alone, before any reply.
          const seen = slot.carry ? concat(slot.carry, data) : data.slice();
          if (seen.length < 2 && seen[0] === 0x3e) {
            slot.carry = seen;
            continue;
          }
          slot.carry = undefined;
          if (seen[0] !== 0x3e || seen[1] !== 0x20) {
            // Anything else first (`ERR too many connections`): refused.
            this.#broken(slot, "refused", this.#now());
            return;
          }
          isGreeted = true;
          slot.state = "up";
          // Keep the prompt: every reply line then starts with one.
          data = seen;
          onGreeting?.();
          onGreeting = undefined;
          this.#flush(slot);
        }
        this.#lines(slot, data);
        if (slot.generation !== generation) return;
        if (this.#resolved >= this.#total) this.#wakeUp();
      }
    } catch (error) {
      // Nothing may escape a reader: it would end the whole run.
      if (slot.generation === generation) {
        this.#noteError(error);
        this.#broken(slot, "reset", this.#now());
      }
    } finally {
      onGreeting?.();
    }
  }

  /**
   * Tells the user, once per kind, about an error that is not a plain
   * refusal or reset (a name that does not resolve, no route to the host).
   */
  #noteError(error: unknown): void {
    if (isReset(error)) return;
    const text = errorMessage(error);
    const kind = error instanceof Error ? error.name : "error";
    if (this.#noted.has(kind)) return;
    this.#noted.add(kind);
    this.#o.onError?.(`${kind}: ${text}`);
  }

  /** Runs the loop now rather than at its next timer (the end is near). */
  #wakeUp(): void {
    this.#wake?.();
  }

  #eof(slot: Slot, greeted: boolean): void {
    const now = this.#now();
    if (!greeted || !slot.replied) {
      // Closed before its greeting or first reply: the server would not
      // serve it (at its connection limit, say). Reopened after the back-off.
      this.#broken(slot, "refused", now);
      return;
    }
    if (slot.outstanding.length > 0 || this.#partial(slot.carry)) {
      this.#broken(slot, "reset", now);
      return;
    }
    // A clean close with nothing due (a server that answers once): reopen.
    this.#reopenNow(slot);
  }

  /** Whether `carry` holds part of a reply (a prompt alone does not count). */
  #partial(carry: Uint8Array | undefined): boolean {
    if (carry === undefined || carry.length === 0) return false;
    if (!this.#p.prompted) return true;
    return !(carry[0] === 0x3e && (carry.length === 1 ||
      (carry.length === 2 && carry[1] === 0x20)));
  }

  /** Closes the slot's connection and opens a new one if work remains. */
  #reopenNow(slot: Slot): void {
    this.#close(slot);
    slot.reopenAt = this.#now();
    if (this.#next < this.#total || slot.queue.length > 0) {
      this.#open(slot);
    }
  }

  /** Splits `data` into reply lines and judges each. */
  #lines(slot: Slot, data: Uint8Array): void {
    let start = 0;
    let chunk = data;
    if (slot.carry !== undefined) {
      chunk = concat(slot.carry, data);
      slot.carry = undefined;
    }
    const now = this.#now();
    for (;;) {
      const lf = chunk.indexOf(0x0a, start);
      if (lf < 0) break;
      let line = chunk.subarray(start, lf);
      start = lf + 1;
      if (this.#p.prompted) {
        if (line[0] === 0x3e && line[1] === 0x20) line = line.subarray(2);
        else if (line[0] === 0x3e) line = line.subarray(1);
      }
      this.#reply(slot, line, now);
      if (slot.state !== "up") return;
    }
    if (start < chunk.length) {
      if (chunk.length - start > MAX_LINE_BYTES) {
        // No line that long is a reply we know: the stream is garbage.
        const head = slot.outstanding.length > 0
          ? slot.outstanding.shift()
          : undefined;
        if (head !== undefined) this.#fail(head, "wrong");
        else this.#timeline.count("wrong", Math.max(0, now));
        this.#faults.corrupt++;
        this.#broken(slot, "timeout", now);
        return;
      }
      slot.carry = chunk.slice(start);
    }
    this.#afterReplies(slot);
  }

  #reply(slot: Slot, line: Uint8Array, now: number): void {
    const expected = slot.outstanding.length > 0 ? slot.outstanding.peek() : -1;
    const verdict = this.#p.check(line, expected);
    if (verdict.kind === "ok" && expected >= 0) {
      slot.outstanding.shift();
      slot.replied = true;
      this.#answer(verdict.index, now, verdict.node);
      return;
    }
    if (
      !slot.replied && verdict.kind === "wrong" && verdict.index === undefined
    ) {
      // Not a reply at all before the first one (a refusal line, a banner):
      // the connection counts as refused, not each line as wrong.
      this.#broken(slot, "refused", now);
      return;
    }
    const index = verdict.kind === "ok" ? undefined : verdict.index;
    if (index === undefined || !(this.#p instanceof EchoPayload)) {
      if (verdict.kind === "wrong" && verdict.why === "corrupt") {
        this.#faults.corrupt++;
      } else this.#faults.unexpected++;
      // The oldest message got this reply; with none, it is extra.
      if (expected >= 0) this.#fail(slot.outstanding.shift(), "wrong");
      else this.#timeline.count("wrong", Math.max(0, now));
      return;
    }
    // An echo of another message than the oldest one outstanding.
    const skippedAt = slot.skipped.indexOf(index);
    if (skippedAt >= 0) {
      // Overtaken earlier, here now: reordered.
      slot.skipped.splice(skippedAt, 1);
      this.#faults.reordered++;
      this.#fail(index, "wrong");
    } else if (index < this.#state.length && this.#state[index] === MSG_DONE) {
      this.#faults.duplicate++;
      this.#timeline.count("wrong", Math.max(0, now));
    } else if (slot.outstanding.includes(index)) {
      // A later message overtook older ones: they are set aside, to be
      // found reordered if they come, timed out if they never do.
      while (slot.outstanding.peek() !== index) {
        slot.skipped.push(slot.outstanding.shift());
      }
      slot.outstanding.shift();
      slot.replied = true;
      this.#answer(index, now);
    } else {
      this.#faults.unexpected++;
      this.#timeline.count("wrong", Math.max(0, now));
    }
  }

  #answer(index: number, now: number, node?: string): void {
    if (this.#state[index] === MSG_DONE) return;
    this.#state[index] = MSG_DONE;
    this.#resolved++;
    this.#timeline.answer(now, now - this.#due(index), node);
  }

  #afterReplies(slot: Slot): void {
    if (slot.outstanding.length > 0) return;
    const perConn = this.#o.perConn;
    if (slot.retiring || (perConn > 0 && slot.sentOnConn >= perConn)) {
      // Replaced: closed by us after its last reply, reopened at once.
      this.#reopenNow(slot);
      return;
    }
    if (slot.queue.length > 0) this.#flush(slot);
  }

  /** Sends what `slot` has queued, in one write. */
  #flush(slot: Slot): void {
    if (slot.state !== "up" || slot.writing || slot.retiring) return;
    const conn = slot.conn;
    if (conn === undefined || slot.queue.length === 0) return;
    const perConn = this.#o.perConn;
    let room = perConn > 0 ? perConn - slot.sentOnConn : slot.queue.length;
    room = Math.min(room, slot.queue.length);
    if (room <= 0) return;
    const max = this.#p.maxBytes;
    if (this.#sendBuffer.length < room * max) {
      this.#sendBuffer = new Uint8Array(room * max * 2);
    }
    const out = this.#sendBuffer;
    let length = 0;
    const now = Math.max(0, this.#now());
    for (let k = 0; k < room; k++) {
      const index = slot.queue.shift();
      length += this.#p.encode(index, out, length);
      slot.outstanding.push(index);
      this.#state[index] = MSG_SENT;
    }
    slot.sentOnConn += room;
    this.#timeline.count("sent", now, room);
    // Copied: the shared buffer is reused before a slow write finishes.
    const bytes = out.slice(0, length);
    const generation = slot.generation;
    slot.writing = true;
    writeAll(conn, bytes).then(() => {
      if (slot.generation !== generation) return;
      slot.writing = false;
      if (slot.queue.length > 0) this.#flush(slot);
    }, () => {
      // Any write error breaks the connection; the reader may say so first.
      if (slot.generation !== generation) return;
      this.#broken(slot, "reset", this.#now());
    });
  }

  #tick(now: number): void {
    const o = this.#o;
    // Messages now due go to their connection's queue.
    const first = this.#next;
    while (this.#next < this.#total && this.#due(this.#next) <= now) {
      this.#slots[this.#next % o.conns]!.queue.push(this.#next);
      this.#next++;
    }
    const added = this.#next - first;
    if (added >= o.conns) {
      for (const slot of this.#slots) this.#flush(slot);
    } else {
      for (let i = first; i < this.#next; i++) {
        this.#flush(this.#slots[i % o.conns]!);
      }
    }
    // Connection churn: replace the next connection in turn.
    while (now >= this.#nextChurn) {
      this.#nextChurn += 1000 / o.connectRate;
      if (this.#next >= this.#total) continue;
      const slot = this.#slots[this.#churnSlot]!;
      this.#churnSlot = (this.#churnSlot + 1) % o.conns;
      if (slot.state !== "up") continue;
      slot.retiring = true;
      if (slot.outstanding.length === 0 && !slot.writing) {
        this.#reopenNow(slot);
      }
    }
    if (now - this.#lastTimeoutScan >= 5) {
      this.#lastTimeoutScan = now;
      this.#scan(now);
    }
  }

  // Time-outs, and reopening connections that are down.
  #scan(now: number): void {
    const limit = this.#o.timeoutMs;
    for (const slot of this.#slots) {
      while (
        slot.queue.length > 0 && now > this.#due(slot.queue.peek()) + limit
      ) {
        this.#fail(slot.queue.shift(), "timeout");
      }
      if (slot.skipped.length > 0) {
        slot.skipped = slot.skipped.filter((index) => {
          if (now <= this.#due(index) + limit) return true;
          this.#fail(index, "timeout");
          return false;
        });
      }
      if (
        slot.outstanding.length > 0 &&
        now > this.#due(slot.outstanding.peek()) + limit
      ) {
        // The connection is stuck: give it up, with what it still owes.
        this.#broken(slot, "timeout", now);
      }
      if (
        slot.state === "down" && now >= slot.reopenAt &&
        (this.#next < this.#total || slot.queue.length > 0)
      ) {
        this.#open(slot);
      }
    }
  }

  // At the hard cap: whatever is still unanswered timed out.
  #giveUp(now: number): void {
    for (const slot of this.#slots) {
      for (const index of slot.queue.drain()) this.#fail(index, "timeout");
      this.#broken(slot, "timeout", now);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
