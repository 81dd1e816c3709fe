/**
 * The pool of N daemons: states and their counts, dispatch of request
 * lines, the wait queue, busy timeouts, respawn with backoff, and the
 * SIGHUP restart that fails no request.
 */
import type { Line } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { Daemon, type DaemonEnd, describeEnd } from "./daemon.ts";
import { RequestQueue } from "./request_queue.ts";
import {
  BusyTimeoutError,
  DaemonDiedError,
  PoolClosedError,
  QueueTimeoutError,
  ReplyTooLongError,
  type RequestFailedError,
} from "./request_errors.ts";
import { type PoolCounters, Statistics } from "./statistics.ts";
import { errorMessage } from "../common/mod.ts";

const log = tcpkitLogger("iotcpd", "pool");
const LF = 0x0a;
const CRLF = new Uint8Array([0x0d, 0x0a]);
const LF_BYTES = new Uint8Array([LF]);

/**
 * The state of one daemon slot:
 * - `SPAWNING`: no process; one will be spawned (at once, or after a backoff);
 * - `STARTING`: spawned and usable at once, not yet proven: no reply yet,
 *   and younger than one housekeeping tick;
 * - `AVAILABLE`: idle, proven;
 * - `BUSY`: working on exactly one request.
 *
 * Idle daemons take requests whether `STARTING` or `AVAILABLE`: there is
 * no start-up gap (the original waited two ticks).
 */
export type DaemonState = "SPAWNING" | "STARTING" | "AVAILABLE" | "BUSY";

/** Every state, in the order the statistics list them. */
export const DAEMON_STATES: readonly DaemonState[] = [
  "AVAILABLE",
  "BUSY",
  "SPAWNING",
  "STARTING",
];

/** One row of the per-daemon table. */
export interface DaemonInfo {
  /** Slot number, from 0. */
  slot: number;
  /** Process id of the slot's daemon, `null` while SPAWNING. */
  pid: number | null;
  /** The slot's state. */
  state: DaemonState;
  /** Requests given to this slot since start. */
  requests: number;
  /** Replies from this slot since start. */
  replies: number;
  /** Requests of this slot that ended with `ERR`. */
  failures: number;
  /** Processes spawned in this slot since start. */
  spawns: number;
  /** Busy-timeout kills in this slot since start. */
  kills: number;
  /**
   * Daemons of this slot replaced for writing beyond their replies (a line
   * with no request pending, or bytes after a reply line).
   */
  stray: number;
  /** How long the current request has run, in ms; `null` unless BUSY. */
  busyMs: number | null;
  /** Age of the current process, in ms; `null` while SPAWNING. */
  ageMs: number | null;
}

/** Options of {@linkcode DaemonPool}. */
export interface DaemonPoolOptions {
  /** The daemon's argv; `argv[0]` is looked up on PATH. */
  command: readonly string[];
  /** Number of daemons, 1 to 1024. @default {4} */
  size?: number;
  /** Longest reply line, in bytes. @default {4096} */
  maxLine?: number;
  /** A daemon busy longer than this is killed and its request fails, in ms. @default {15000} */
  busyTimeoutMs?: number;
  /** The housekeeping tick (busy-timeout checks, STARTING → AVAILABLE), in ms. @default {2000} */
  tickMs?: number;
  /** How long a request waits for a free daemon, in ms. @default {500} */
  queueTimeoutMs?: number;
  /** Between the steps of stopping a daemon (stdin EOF, SIGTERM, SIGKILL), in ms. @default {1000} */
  killGraceMs?: number;
  /** Respawn delay after the second death in a row without a reply, doubled after each further one, in ms. @default {100} */
  initialBackoffMs?: number;
  /** Longest respawn delay, in ms. @default {5000} */
  maxBackoffMs?: number;
  /** Words put before the command (see `parentDeathWrapper`). @default {[]} */
  wrapper?: readonly string[];
  /** Where request outcomes are counted. @default {a new Statistics} */
  statistics?: Statistics;
}

interface PendingRequest {
  bytes: Uint8Array;
  receivedAt: number;
  resolve: (reply: Uint8Array) => void;
  reject: (error: RequestFailedError) => void;
}

interface Slot {
  readonly index: number;
  readonly name: string;
  state: DaemonState;
  daemon: Daemon | undefined;
  request: PendingRequest | undefined;
  busySince: number;
  spawnedAt: number;
  proven: boolean;
  // Deaths since the last reply: drives the backoff.
  deathsInRow: number;
  // SIGHUP came while busy: replace the daemon once its request is done.
  replace: boolean;
  respawnTimer: ReturnType<typeof setTimeout> | undefined;
  requests: number;
  replies: number;
  failures: number;
  spawns: number;
  kills: number;
  stray: number;
}

function positive(name: string, value: number, min = 0): number {
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`Invalid ${name}: ${value}`);
  }
  return value;
}

/**
 * Keeps `size` daemons running and hands each request line to an idle one.
 *
 * A request either goes at once to an idle daemon or waits in a FIFO queue
 * for at most `queueTimeoutMs`. The daemon's next output line is the reply;
 * the reply of a request always comes from the process it was written to,
 * so a late line from a killed daemon can never reach another client. A
 * daemon that writes more than its reply (see `Daemon.dirty`) gets no
 * further request: it is killed and a fresh one takes its slot.
 * Every request settles: with the reply, or with a
 * {@linkcode RequestFailedError} saying why not.
 *
 * @example
 * ```ts ignore
 * import { DaemonPool } from "./daemon_pool.ts";
 * await using pool = new DaemonPool({ command: ["cat"], size: 2 });
 * const reply = await pool.request(new TextEncoder().encode("hello"));
 * // reply: the bytes of "hello\n"
 * ```
 */
export class DaemonPool {
  readonly #command: readonly string[];
  readonly #wrapper: readonly string[];
  readonly #maxLine: number;
  readonly #busyTimeoutMs: number;
  readonly #tickMs: number;
  readonly #killGraceMs: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #stats: Statistics;
  readonly #slots: Slot[];
  // Idle slots (STARTING or AVAILABLE); the last one freed is used first.
  readonly #idle: Slot[] = [];
  readonly #queue: RequestQueue<PendingRequest>;
  readonly #retiring = new Set<Daemon>();
  readonly #tick: ReturnType<typeof setInterval>;
  #spawns = 0;
  #deaths = 0;
  #busyKills = 0;
  #closing = false;
  #closed: Promise<void> | undefined;
  #lastDropLog = -Infinity;
  #dropsUnlogged = 0;
  #lastStrayLog = -Infinity;
  #straysUnlogged = 0;

  /**
   * Spawns the daemons and starts the housekeeping tick.
   *
   * @throws {DaemonSpawnError} when the first daemon cannot be started: a
   * missing program is a configuration error, not a crash to retry.
   */
  constructor(options: DaemonPoolOptions) {
    if (options.command.length === 0) {
      throw new TypeError("Empty daemon command");
    }
    const size = options.size ?? 4;
    if (!Number.isInteger(size) || size < 1 || size > 1024) {
      throw new RangeError(`Invalid pool size: ${size} (1 to 1024)`);
    }
    this.#command = [...options.command];
    this.#wrapper = [...(options.wrapper ?? [])];
    this.#maxLine = positive("maxLine", options.maxLine ?? 4096, 1);
    this.#busyTimeoutMs = positive(
      "busyTimeoutMs",
      options.busyTimeoutMs ?? 15000,
    );
    this.#tickMs = positive("tickMs", options.tickMs ?? 2000, 1);
    this.#killGraceMs = positive("killGraceMs", options.killGraceMs ?? 1000);
    this.#initialBackoffMs = positive(
      "initialBackoffMs",
      options.initialBackoffMs ?? 100,
    );
    this.#maxBackoffMs = positive("maxBackoffMs", options.maxBackoffMs ?? 5000);
    this.#stats = options.statistics ?? new Statistics();
    const queueTimeoutMs = options.queueTimeoutMs ?? 500;
    this.#queue = new RequestQueue(
      positive("queueTimeoutMs", queueTimeoutMs),
      (request) => this.#expire(request),
    );
    this.#slots = Array.from({ length: size }, (_, index) => ({
      index,
      name: `d[${index}]`,
      state: "SPAWNING",
      daemon: undefined,
      request: undefined,
      busySince: 0,
      spawnedAt: 0,
      proven: false,
      deathsInRow: 0,
      replace: false,
      respawnTimer: undefined,
      requests: 0,
      replies: 0,
      failures: 0,
      spawns: 0,
      kills: 0,
      stray: 0,
    }));
    try {
      this.#install(this.#slots[0]!, this.#newDaemon(this.#slots[0]!));
    } catch (error) {
      this.#queue.close();
      throw error;
    }
    for (const slot of this.#slots.slice(1)) this.#spawn(slot);
    this.#tick = setInterval(() => this.#housekeeping(), this.#tickMs);
  }

  /** The number of daemon slots. */
  get size(): number {
    return this.#slots.length;
  }

  /**
   * Sends one request line to an idle daemon, waiting in the queue if none
   * is idle: `line` without its terminator, then `terminator`, so the
   * daemon sees the bytes the client sent. Resolves with the daemon's
   * reply line, terminator included, as the daemon wrote it.
   *
   * @throws {RequestFailedError} (as a rejection) when no reply comes: see
   * its subclasses for the causes.
   */
  request(
    line: Uint8Array,
    terminator: "\n" | "\r\n" = "\n",
  ): Promise<Uint8Array> {
    const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
    const end = terminator === "\r\n" ? CRLF : LF_BYTES;
    const bytes = new Uint8Array(line.length + end.length);
    bytes.set(line);
    bytes.set(end, line.length);
    const request = { bytes, receivedAt: performance.now(), resolve, reject };
    if (this.#closing) {
      this.#stats.recordRequest(false);
      this.#fail(request, new PoolClosedError());
      return promise;
    }
    const slot = this.#idle.pop();
    this.#stats.recordRequest(slot === undefined);
    if (slot) this.#dispatch(slot, request);
    else this.#queue.push(request);
    return promise;
  }

  /**
   * Restarts every daemon without failing a request (SIGHUP): an idle
   * daemon is replaced at once, a busy one as soon as its request is done,
   * and a slot waiting out a backoff spawns now. The successor is spawned
   * before the old daemon is stopped (end of file on stdin, then SIGTERM),
   * and if it cannot be spawned the old daemon stays.
   */
  restartAll(): void {
    if (this.#closing) return;
    log.info("restarting {count} daemons", { count: this.#slots.length });
    for (const slot of this.#slots) {
      if (slot.state === "BUSY") {
        slot.replace = true;
      } else if (slot.daemon !== undefined) {
        this.#removeIdle(slot);
        this.#replace(slot);
      } else {
        clearTimeout(slot.respawnTimer);
        slot.respawnTimer = undefined;
        slot.deathsInRow = 0;
        this.#spawn(slot);
      }
    }
  }

  /** The pool's gauges and counters, at this instant. */
  counters(): PoolCounters {
    const states: Record<DaemonState, number> = {
      AVAILABLE: 0,
      BUSY: 0,
      SPAWNING: 0,
      STARTING: 0,
    };
    for (const slot of this.#slots) states[slot.state]++;
    return {
      queued: this.#queue.length,
      inFlight: states.BUSY,
      spawns: this.#spawns,
      deaths: this.#deaths,
      busyKills: this.#busyKills,
      retiring: this.#retiring.size,
      states,
    };
  }

  /** One row per slot, for the per-daemon table. */
  table(): DaemonInfo[] {
    const now = performance.now();
    return this.#slots.map((slot) => ({
      slot: slot.index,
      pid: slot.daemon?.pid ?? null,
      state: slot.state,
      requests: slot.requests,
      replies: slot.replies,
      failures: slot.failures,
      spawns: slot.spawns,
      kills: slot.kills,
      stray: slot.stray,
      busyMs: slot.state === "BUSY" ? now - slot.busySince : null,
      ageMs: slot.daemon ? now - slot.spawnedAt : null,
    }));
  }

  /** Process ids of the daemons being stopped (replaced or dead, not yet reaped). */
  retiringPids(): number[] {
    return [...this.#retiring].map((daemon) => daemon.pid);
  }

  /**
   * Stops the pool: queued and running requests fail with
   * {@linkcode PoolClosedError}, and every daemon is stopped (end of file
   * on stdin, then SIGTERM, then SIGKILL, `killGraceMs` apart). Resolves
   * once all are reaped. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** SIGKILL to every daemon now, synchronously, for a forced exit. */
  killNow(): void {
    for (const slot of this.#slots) slot.daemon?.killNow();
    for (const daemon of this.#retiring) daemon.killNow();
  }

  /** Same as {@linkcode DaemonPool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#tick);
    for (const request of this.#queue.drain()) {
      this.#fail(request, new PoolClosedError());
    }
    this.#queue.close();
    this.#idle.length = 0;
    for (const slot of this.#slots) {
      clearTimeout(slot.respawnTimer);
      slot.respawnTimer = undefined;
      const { daemon, request } = slot;
      slot.daemon = undefined;
      slot.request = undefined;
      slot.state = "SPAWNING";
      if (request) this.#fail(request, new PoolClosedError());
      if (daemon) this.#retire(daemon, "stop");
    }
    const grace = this.#killGraceMs;
    await Promise.all([...this.#retiring].map((daemon) => daemon.stop(grace)));
  }

  #newDaemon(slot: Slot): Daemon {
    const daemon: Daemon = new Daemon(this.#command, {
      maxLine: this.#maxLine,
      wrapper: this.#wrapper,
      name: slot.name,
      onLine: (line) => this.#onLine(slot, daemon, line),
      onEnd: (why) => this.#onEnd(slot, daemon, why),
      onStray: () => this.#onStray(slot, daemon),
    });
    return daemon;
  }

  #install(slot: Slot, daemon: Daemon): void {
    slot.daemon = daemon;
    slot.spawnedAt = daemon.startedAt;
    slot.proven = false;
    slot.replace = false;
    slot.spawns++;
    this.#spawns++;
    log.debug("{name} started (pid {pid})", {
      name: slot.name,
      pid: daemon.pid,
    });
    this.#offer(slot);
  }

  #spawn(slot: Slot): void {
    slot.respawnTimer = undefined;
    if (this.#closing) return;
    let daemon: Daemon;
    try {
      daemon = this.#newDaemon(slot);
    } catch (error) {
      slot.deathsInRow++;
      const delay = Math.max(
        this.#initialBackoffMs,
        this.#backoff(slot.deathsInRow),
      );
      log.error("cannot start {name}: {error}; retrying in {delay} ms", {
        name: slot.name,
        error: errorMessage(error),
        delay,
      });
      slot.state = "SPAWNING";
      this.#scheduleSpawn(slot, delay);
      return;
    }
    this.#install(slot, daemon);
  }

  // The first death after a reply respawns at once; more deaths in a row
  // (a daemon that exits at start, or crashes on every input) back off.
  #backoff(deathsInRow: number): number {
    if (deathsInRow <= 1) return 0;
    return Math.min(
      this.#initialBackoffMs * 2 ** (deathsInRow - 2),
      this.#maxBackoffMs,
    );
  }

  #scheduleSpawn(slot: Slot, delay: number): void {
    if (this.#closing) return;
    if (delay <= 0) {
      this.#spawn(slot);
      return;
    }
    slot.respawnTimer = setTimeout(() => this.#spawn(slot), delay);
  }

  /** Gives an idle slot the oldest queued request, or marks it idle. */
  #offer(slot: Slot): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      this.#dispatch(slot, next);
      return;
    }
    slot.state = slot.proven ? "AVAILABLE" : "STARTING";
    this.#idle.push(slot);
  }

  #dispatch(slot: Slot, request: PendingRequest): void {
    slot.state = "BUSY";
    slot.request = request;
    slot.busySince = performance.now();
    slot.requests++;
    slot.daemon!.send(request.bytes);
  }

  #removeIdle(slot: Slot): void {
    const index = this.#idle.indexOf(slot);
    if (index >= 0) this.#idle.splice(index, 1);
  }

  #onLine(slot: Slot, daemon: Daemon, line: Line): void {
    // A line from a daemon no longer in its slot reaches nobody; nor does
    // one with no request pending (the daemon is dirty, see #onStray).
    if (slot.daemon !== daemon) return;
    const request = slot.request;
    if (request === undefined) return;
    slot.request = undefined;
    slot.replies++;
    slot.proven = true;
    slot.deathsInRow = 0;
    const terminator = line.terminator === "\r\n" ? CRLF : undefined;
    const reply = new Uint8Array(line.bytes.length + (terminator ? 2 : 1));
    reply.set(line.bytes);
    if (terminator) reply.set(terminator, line.bytes.length);
    else reply[line.bytes.length] = LF;
    this.#stats.recordReply(performance.now() - request.receivedAt);
    // The reply is the request's own line; what came with it is not.
    if (daemon.dirty) this.#discard(slot, daemon);
    else if (slot.replace) this.#replace(slot);
    else this.#offer(slot);
    request.resolve(reply);
  }

  #onStray(slot: Slot, daemon: Daemon): void {
    if (slot.daemon !== daemon) return;
    const request = slot.request;
    slot.request = undefined;
    this.#discard(slot, daemon);
    // Never happens while a reply is owed (such bytes are the reply), but
    // a request must settle whatever happens.
    if (request) {
      slot.failures++;
      this.#fail(
        request,
        new DaemonDiedError(daemon.pid, "wrote stray output"),
      );
    }
  }

  /**
   * Takes a dirty daemon out of its slot (its next line could be anyone's
   * answer), kills it unread, and spawns a fresh one: at once after a
   * reply, with the crash backoff if it keeps writing without replying
   * (e.g. a banner at every start).
   */
  #discard(slot: Slot, daemon: Daemon): void {
    slot.daemon = undefined;
    this.#removeIdle(slot);
    slot.state = "SPAWNING";
    slot.stray++;
    slot.deathsInRow++;
    daemon.discardOutput();
    this.#retire(daemon, "kill");
    const delay = this.#backoff(slot.deathsInRow);
    // One line per incident, at most one a second: a daemon flooding its
    // stdout must not flood the log too.
    const now = performance.now();
    if (now - this.#lastStrayLog >= 1000) {
      log.warn(
        "{name} pid {pid} wrote {bytes} bytes ({lines} newlines) beyond its reply: killed, the rest unread; respawning in {delay} ms{more}",
        {
          name: slot.name,
          pid: daemon.pid,
          bytes: daemon.strayBytes,
          lines: daemon.strayLines,
          delay,
          more: this.#straysUnlogged
            ? ` (${this.#straysUnlogged} more such daemons since the last report)`
            : "",
        },
      );
      this.#lastStrayLog = now;
      this.#straysUnlogged = 0;
    } else {
      this.#straysUnlogged++;
    }
    this.#scheduleSpawn(slot, delay);
  }

  #onEnd(slot: Slot, daemon: Daemon, why: DaemonEnd): void {
    if (slot.daemon !== daemon) return;
    this.#deaths++;
    slot.daemon = undefined;
    this.#removeIdle(slot);
    const request = slot.request;
    slot.request = undefined;
    slot.state = "SPAWNING";
    slot.deathsInRow++;
    const delay = this.#backoff(slot.deathsInRow);
    const how = describeEnd(why, daemon.exitStatus);
    // Few lines for a crash loop: the first deaths, then one in ten.
    const level = slot.deathsInRow <= 3 || slot.deathsInRow % 10 === 0
      ? "warn"
      : "debug";
    log[level](
      "daemon {name} (pid {pid}) has died: {how}; respawning in {delay} ms",
      {
        name: slot.name,
        pid: daemon.pid,
        how,
        delay,
      },
    );
    this.#retire(daemon, "kill");
    if (request) {
      slot.failures++;
      this.#fail(
        request,
        why === "reply-too-long"
          ? new ReplyTooLongError(daemon.pid, this.#maxLine)
          : new DaemonDiedError(daemon.pid, how),
      );
    }
    this.#scheduleSpawn(slot, delay);
  }

  /** Replaces the idle daemon of a slot: successor first, then stop the old one. */
  #replace(slot: Slot): void {
    slot.replace = false;
    const old = slot.daemon!;
    let next: Daemon;
    try {
      next = this.#newDaemon(slot);
    } catch (error) {
      log.error(
        "cannot start a successor for {name}: {error}; keeping pid {pid}",
        {
          name: slot.name,
          error: errorMessage(error),
          pid: old.pid,
        },
      );
      this.#offer(slot);
      return;
    }
    this.#retire(old, "stop");
    this.#install(slot, next);
  }

  #retire(daemon: Daemon, how: "stop" | "kill", why?: string): void {
    this.#retiring.add(daemon);
    const done = how === "stop"
      ? daemon.stop(this.#killGraceMs)
      : daemon.kill(this.#killGraceMs);
    done.then((status) => {
      this.#retiring.delete(daemon);
      if (why === undefined) return;
      log.info("{name} pid {pid} ({why}) ended: {how}", {
        name: daemon.name,
        pid: daemon.pid,
        why,
        how: describeEnd("exited", status),
      });
    });
  }

  #housekeeping(): void {
    const now = performance.now();
    for (const slot of this.#slots) {
      if (slot.state === "BUSY") {
        const busyMs = now - slot.busySince;
        if (busyMs > this.#busyTimeoutMs) this.#killBusy(slot, busyMs);
      } else if (
        slot.state === "STARTING" && now - slot.spawnedAt >= this.#tickMs
      ) {
        slot.state = "AVAILABLE";
        slot.proven = true;
      }
    }
  }

  #killBusy(slot: Slot, busyMs: number): void {
    const daemon = slot.daemon!;
    const request = slot.request!;
    // The original's wording.
    log.warn(
      `${slot.name} - pid ${daemon.pid} is killed for being 'busy' for ${
        (busyMs / 1000).toFixed(1)
      }s`,
    );
    slot.daemon = undefined;
    slot.request = undefined;
    slot.state = "SPAWNING";
    slot.kills++;
    slot.failures++;
    this.#busyKills++;
    this.#retire(daemon, "kill", "killed for being busy");
    this.#fail(request, new BusyTimeoutError(daemon.pid, busyMs));
    // A hang is no crash loop (each one cost a busy timeout): respawn now.
    this.#spawn(slot);
  }

  #expire(request: PendingRequest): void {
    const now = performance.now();
    if (now - this.#lastDropLog >= 1000) {
      const { states } = this.counters();
      log.warn(
        "dropping request: no daemon free in {ms} ms; avail/busy/spawning/starting daemons: {available}/{busy}/{spawning}/{starting}{more}",
        {
          ms: this.#queue.timeoutMs,
          available: states.AVAILABLE,
          busy: states.BUSY,
          spawning: states.SPAWNING,
          starting: states.STARTING,
          more: this.#dropsUnlogged
            ? ` (${this.#dropsUnlogged} more dropped since the last report)`
            : "",
        },
      );
      this.#lastDropLog = now;
      this.#dropsUnlogged = 0;
    } else {
      this.#dropsUnlogged++;
    }
    this.#fail(request, new QueueTimeoutError(this.#queue.timeoutMs));
  }

  #fail(request: PendingRequest, error: RequestFailedError): void {
    this.#stats.recordFailure(error.reason);
    request.reject(error);
  }
}
