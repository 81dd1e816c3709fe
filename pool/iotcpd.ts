/**
 * iotcpd as a library: TCP listeners in front of a daemon pool. One request
 * line in, the daemon's reply line out, then the connection closes (or, with
 * `keepAlive`, the next line is the next request).
 */
import {
  formatHostPort,
  type Line,
  LineReader,
  LineTooLongError,
  LogBudget,
  VERSION,
} from "../common/mod.ts";
import { LIBC_PATH_ENV } from "../ffi/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import type { ServerConn } from "../net/server_conn.ts";
import { TcpServer } from "../net/tcp_server.ts";
import {
  DrainGraceOverError,
  DrainGraceReader,
} from "./_drain_grace_reader.ts";
import { DaemonSpawnError } from "./daemon.ts";
import { parentDeathWrapper, programExists } from "./daemon_command.ts";
import { type DaemonInfo, DaemonPool } from "./daemon_pool.ts";
import { RequestFailedError } from "./request_errors.ts";
import {
  formatDaemonTable,
  formatStatistics,
  Statistics,
  type StatisticsJson,
  type StatisticsSnapshot,
  takeSnapshot,
} from "./statistics.ts";

const log = tcpkitLogger("iotcpd");
// A keep-alive client that never reads can cause one reset per idle
// timeout and connection: a few lines a second, with the count of the rest.
const unreadBudget = new LogBudget();
const encoder = new TextEncoder();

/** The reply to every failed request. */
export const ERR_REPLY = "ERR\n";
const ERR = encoder.encode(ERR_REPLY);

/** The daemon command when none is given. */
export const DEFAULT_COMMAND: readonly string[] = ["cat"];
/** The port when none is given (the original's). */
export const DEFAULT_PORT = 9991;
/** How long a drain still reads request lines on their way, in ms. */
export const DEFAULT_DRAIN_GRACE_MS = 1000;
// ServerConn.lingeringClose's default: how long a last ERR waits for the
// client to close before the socket goes.
const LINGER_MS = 2000;

/** Options of {@linkcode Iotcpd.start}. */
export interface IotcpdOptions {
  /** The daemon's argv. @default {["cat"]} */
  command?: readonly string[];
  /** Address of the first listener; `""` for none (then `hostname6` is needed). @default {"127.0.0.1"} */
  hostname?: string;
  /** Address of an extra listener on the same port, e.g. `"::1"`. */
  hostname6?: string;
  /** Port; 0 picks a free one (the extra listener takes the same). @default {9991} */
  port?: number;
  /**
   * Serve these listening sockets (systemd's, see
   * `net/socket_activation.ts`) instead of listening: `hostname`,
   * `hostname6` and `port` are then ignored. iotcpd owns them.
   */
  listenFds?: readonly number[];
  /** Number of daemons, 1 to 1024. @default {4} */
  numDaemons?: number;
  /** A daemon busy longer than this is killed, its request answered `ERR`, in ms. @default {15000} */
  busyTimeoutMs?: number;
  /** The housekeeping tick, in ms. @default {2000} */
  tickMs?: number;
  /** How long a request waits for a free daemon, in ms. @default {500} */
  queueTimeoutMs?: number;
  /** Longest request line and reply line, in bytes. @default {4096} */
  maxLine?: number;
  /** Client connections at once, per listener; more are answered `ERR`; 0 no limit. @default {1024} */
  maxConns?: number;
  /**
   * Close a client that sends no complete line for this long, or that
   * leaves a reply unread this long (reset), in ms; 0 never.
   * @default {30000}
   */
  idleTimeoutMs?: number;
  /** Further lines on a connection are further requests. @default {false} */
  keepAlive?: boolean;
  /**
   * On shutdown, how long connections still waiting for a request line
   * keep reading it, in ms: a line that arrives is served; then a client
   * with no request answered yet, or a line begun, gets `ERR`.
   * @default {1000}
   */
  drainGraceMs?: number;
  /** Between the steps of stopping a daemon (stdin EOF, SIGTERM, SIGKILL), in ms. @default {1000} */
  killGraceMs?: number;
  /**
   * Start daemons through `setpriv --pdeathsig KILL`, so the kernel kills
   * them if iotcpd dies, even by SIGKILL (when setpriv is available).
   * @default {true}
   */
  parentDeathSignal?: boolean;
}

interface Waiting {
  since: number;
  reader: LineReader;
  requests: number;
  // Counted as `unknown` already (by the idle sweep, when it closed it).
  counted: boolean;
  // Waiting for the client to take a reply, not to send a line.
  writing: boolean;
  // Set by the idle sweep when it reset the client during a reply.
  unreadMs: number | undefined;
}

// An RST needs SO_LINGER, i.e. FFI (and the libc loader reads one
// variable): asked once here, so that no permission prompt ever blocks.
function mayReset(): boolean {
  try {
    const { permissions } = Deno;
    return permissions.querySync({ name: "ffi" }).state === "granted" &&
      permissions.querySync({ name: "env", variable: LIBC_PATH_ENV }).state !==
        "prompt";
  } catch {
    return false;
  }
}

/**
 * A running iotcpd.
 *
 * @example
 * ```ts ignore
 * import { Iotcpd } from "./iotcpd.ts";
 * await using iotcpd = await Iotcpd.start({ port: 0, command: ["cat"] });
 * console.log(iotcpd.addrs[0]!.port);
 * console.log(iotcpd.statisticsText()); // the SIGUSR1 block
 * ```
 */
export class Iotcpd {
  readonly #pool: DaemonPool;
  readonly #stats: Statistics;
  readonly #servers: TcpServer[] = [];
  readonly #waiting = new Map<ServerConn, Waiting>();
  readonly #maxLine: number;
  readonly #keepAlive: boolean;
  readonly #idleTimeoutMs: number;
  readonly #drainGraceMs: number;
  readonly #mayReset = mayReset();
  readonly #sweep: ReturnType<typeof setInterval> | undefined;
  readonly #finished = Promise.withResolvers<void>();
  #stopping: Promise<void> | undefined;

  private constructor(
    pool: DaemonPool,
    stats: Statistics,
    options: IotcpdOptions,
  ) {
    this.#pool = pool;
    this.#stats = stats;
    this.#maxLine = options.maxLine ?? 4096;
    this.#keepAlive = options.keepAlive ?? false;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30000;
    this.#drainGraceMs = options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS;
    if (this.#idleTimeoutMs > 0) {
      const period = Math.min(options.tickMs ?? 2000, this.#idleTimeoutMs);
      this.#sweep = setInterval(() => this.#sweepIdle(), period);
    }
  }

  /**
   * Spawns the daemons, then listens. Resolves once both are ready: the
   * daemons take requests from the first one.
   *
   * @throws {DaemonSpawnError} when the daemon's program cannot be started.
   * @throws {Deno.errors.AddrInUse} (or another `Deno.errors` class) when a
   * listener cannot be opened; the daemons are stopped first.
   */
  static async start(options: IotcpdOptions = {}): Promise<Iotcpd> {
    const command = options.command ?? DEFAULT_COMMAND;
    const hostname = options.hostname ?? "127.0.0.1";
    if (
      hostname === "" && options.hostname6 === undefined &&
      !options.listenFds?.length
    ) {
      throw new TypeError("No address to listen on");
    }
    const maxLine = options.maxLine ?? 4096;
    if (!Number.isInteger(maxLine) || maxLine < 1) {
      throw new RangeError(`Invalid maxLine: ${maxLine}`);
    }
    const graceMs = options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS;
    if (!Number.isFinite(graceMs) || graceMs < 0) {
      throw new RangeError(`Invalid drainGraceMs: ${graceMs}`);
    }
    if (command.length === 0 || !(await programExists(command[0]!))) {
      throw new DaemonSpawnError(
        command,
        new Deno.errors.NotFound(`${command[0] ?? ""}: not found`),
      );
    }
    const wrapper = options.parentDeathSignal === false
      ? []
      : await parentDeathWrapper();
    if (wrapper.length === 0 && options.parentDeathSignal !== false) {
      log.warn(
        "setpriv --pdeathsig is not available: if iotcpd is killed with SIGKILL, daemons that ignore end of file on stdin outlive it",
      );
    }
    const stats = new Statistics();
    const pool = new DaemonPool({
      command,
      size: options.numDaemons ?? 4,
      maxLine,
      busyTimeoutMs: options.busyTimeoutMs ?? 15000,
      tickMs: options.tickMs ?? 2000,
      queueTimeoutMs: options.queueTimeoutMs ?? 500,
      killGraceMs: options.killGraceMs ?? 1000,
      wrapper,
      statistics: stats,
    });
    const iotcpd = new Iotcpd(pool, stats, options);
    try {
      iotcpd.#listen(options, hostname);
    } catch (error) {
      await iotcpd.shutdown();
      throw error;
    }
    log.info("{count} daemons started: {command}{wrapper}", {
      count: pool.size,
      command: command.join(" "),
      wrapper: wrapper.length ? " (with parent-death signal)" : "",
    });
    return iotcpd;
  }

  #listen(options: IotcpdOptions, hostname: string): void {
    const queueMs = options.queueTimeoutMs ?? 500;
    const busyMs = options.busyTimeoutMs ?? 15000;
    const tickMs = options.tickMs ?? 2000;
    const common = {
      maxConns: options.maxConns ?? 1024,
      maxConnsPolicy: "refuse",
      refusalMessage: ERR_REPLY,
      idleTimeoutMs: 0,
      // Long enough for a line that arrives at the end of the grace to get
      // its reply or ERR (queue, busy timeout, one tick), or for the last
      // ERR's lingering close: the server's cut at the end is silent.
      drainTimeoutMs: this.#drainGraceMs +
        Math.max(queueMs + busyMs + 2 * tickMs, LINGER_MS) + 1000,
    } as const;
    if (options.listenFds?.length) {
      for (const listenFd of options.listenFds) {
        this.#servers.push(
          new TcpServer(this.#handle, { ...common, listenFd }),
        );
      }
      return;
    }
    let port = options.port ?? DEFAULT_PORT;
    if (hostname !== "") {
      const server = new TcpServer(this.#handle, {
        ...common,
        hostname,
        port,
      });
      this.#servers.push(server);
      port = server.addr.port;
    }
    if (options.hostname6 !== undefined) {
      this.#servers.push(
        new TcpServer(this.#handle, {
          ...common,
          hostname: options.hostname6,
          port,
        }),
      );
    }
  }

  /** The addresses bound, first listener first. */
  get addrs(): Deno.NetAddr[] {
    return this.#servers.map((server) => server.addr);
  }

  /** Client connections open now, on every listener. */
  get connectionCount(): number {
    return this.#servers.reduce(
      (sum, server) => sum + server.connectionCount,
      0,
    );
  }

  /** The live request counters. */
  get statistics(): Statistics {
    return this.#stats;
  }

  /** The pool behind the listeners. */
  get pool(): DaemonPool {
    return this.#pool;
  }

  /** Resolves once a shutdown has finished: listeners closed, daemons reaped. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /** Every counter at this instant. */
  snapshot(): StatisticsSnapshot {
    return takeSnapshot(this.#stats, this.#pool.counters(), {
      version: VERSION,
      refusedConnections: this.#servers.reduce(
        (sum, server) => sum + server.refusedCount,
        0,
      ),
    });
  }

  /** The SIGUSR1 statistics block. */
  statisticsText(): string {
    return formatStatistics(this.snapshot());
  }

  /** One row per daemon slot. */
  daemonTable(): DaemonInfo[] {
    return this.#pool.table();
  }

  /** The SIGUSR2 per-daemon table. */
  daemonTableText(): string {
    return formatDaemonTable(this.#pool.table(), this.#pool.retiringPids());
  }

  /** The `--stats-json` document. */
  statisticsJson(): StatisticsJson {
    return {
      ...this.snapshot(),
      pid: Deno.pid,
      writtenAt: new Date().toISOString(),
      daemonTable: this.#pool.table(),
    };
  }

  /** Restarts every daemon without failing a request (SIGHUP). */
  restartDaemons(): void {
    this.#pool.restartAll();
  }

  /** SIGKILL to every daemon now (for a forced exit). */
  killNow(): void {
    this.#pool.killNow();
  }

  /**
   * Stops accepting, lets every request in progress finish (reply or
   * `ERR`), then stops the daemons. Connections waiting for a request line
   * get `drainGraceMs` to send it; after that, one that has no request
   * answered yet, or has begun a line, gets `ERR`, and an idle keep-alive
   * connection is closed. Resolves when all is done. Safe to call twice.
   */
  shutdown(): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.all(this.#servers.map((server) => server.shutdown()));
      clearInterval(this.#sweep);
      await this.#pool.close();
      this.#finished.resolve();
    })();
    return this.#stopping;
  }

  /** Same as {@linkcode Iotcpd.shutdown}. */
  close(): Promise<void> {
    return this.shutdown();
  }

  /** Same as {@linkcode Iotcpd.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #handle = async (conn: ServerConn): Promise<void> => {
    using source = new DrainGraceReader(conn, this.#drainGraceMs);
    const reader = new LineReader(source, { maxLine: this.#maxLine });
    const waiting: Waiting = {
      since: 0,
      reader,
      requests: 0,
      counted: false,
      writing: false,
      unreadMs: undefined,
    };
    // Set when the session ends owing the client an ERR.
    let owed: string | undefined;
    try {
      while (true) {
        waiting.since = performance.now();
        this.#waiting.set(conn, waiting);
        let line: Line | null;
        try {
          line = await reader.readLine();
        } catch (error) {
          this.#waiting.delete(conn);
          if (error instanceof LineTooLongError) {
            waiting.requests++;
            await this.#tooLong(conn);
            return;
          }
          // Stopping, and no line came within the grace: a client that
          // connected to ask something, or began a line, gets ERR.
          if (
            error instanceof DrainGraceOverError &&
            (waiting.requests === 0 || reader.buffered().length > 0)
          ) {
            owed = "no request line within the drain grace";
          }
          // Otherwise reset by the peer, or closed by the idle sweep.
          break;
        }
        this.#waiting.delete(conn);
        if (line === null) break;
        if (line.terminator === "") {
          // End of stream before the newline: no daemon gets a line the
          // client never ended (it may have died mid-write), and holding
          // the connection for ever, as the original does, leaks it.
          owed = "end of stream inside a line";
          break;
        }
        waiting.requests++;
        conn.busy = true;
        let reply: Uint8Array;
        try {
          // The line's own terminator: the daemon sees the client's bytes.
          reply = await this.#pool.request(line.bytes, line.terminator);
        } catch (error) {
          if (!(error instanceof RequestFailedError)) throw error;
          log.debug("ERR to {peer}: {error}", () => ({
            peer: conn.peer,
            error: error.message,
          }));
          reply = ERR;
        }
        // Watched like a wait for a line: a client that never reads must
        // not hold its slot. No line is read meanwhile: the loop is here.
        waiting.since = performance.now();
        waiting.writing = true;
        this.#waiting.set(conn, waiting);
        try {
          await conn.writeAll(reply);
        } catch {
          // Logged here, once the write has let go: the slot is free now.
          const more = waiting.unreadMs !== undefined
            ? unreadBudget.tail("unread")
            : undefined;
          if (more !== undefined) {
            log.warn(
              "reset {peer}: a reply unread for {ms} ms (after {requests} requests){more}",
              {
                peer: conn.peer,
                ms: Math.round(waiting.unreadMs!),
                requests: waiting.requests,
                more,
              },
            );
          }
          break; // The client has gone, or the sweep reset it.
        } finally {
          waiting.writing = false;
          this.#waiting.delete(conn);
        }
        conn.busy = false;
        if (!this.#keepAlive) break;
      }
    } finally {
      this.#waiting.delete(conn);
      if (waiting.requests === 0 && !waiting.counted) {
        this.#stats.recordUnknown();
      }
    }
    if (conn.closed) return;
    if (owed !== undefined) {
      log.debug("ERR to {peer}: {why}", () => ({ peer: conn.peer, why: owed }));
      await conn.lingeringClose(ERR_REPLY, { timeoutMs: LINGER_MS });
    } else if (source.graceOver || reader.buffered().length > 0) {
      // Closing with unread input sends an RST, which can destroy the
      // reply before the client reads it: take the rest first (bounded).
      await conn.lingeringClose("", { timeoutMs: LINGER_MS });
    }
  };

  async #tooLong(conn: ServerConn): Promise<void> {
    this.#stats.recordRequest(false);
    this.#stats.recordFailure("line-too-long");
    log.warn("request from {peer} longer than {max} bytes: ERR", {
      peer: conn.peer,
      max: this.#maxLine,
    });
    conn.busy = true;
    // The client may still be sending: half-close, then drain, so the ERR
    // is not lost to an RST.
    await conn.lingeringClose(ERR_REPLY);
  }

  #sweepIdle(): void {
    const now = performance.now();
    for (const [conn, waiting] of this.#waiting) {
      if (now - waiting.since < this.#idleTimeoutMs) continue;
      this.#waiting.delete(conn);
      if (waiting.writing) {
        this.#resetUnread(conn, waiting, now);
        continue;
      }
      // Counted now, in the same step as the close, so a snapshot taken
      // after the client saw the close includes it.
      if (waiting.requests === 0) {
        waiting.counted = true;
        this.#stats.recordUnknown();
      }
      const partial = waiting.reader.buffered().length > 0;
      log.debug("closing idle connection {id} from {peer}", () => ({
        id: conn.id,
        peer: conn.peer,
      }));
      // A started line is a request left unanswered: it gets ERR. An idle
      // connection with nothing pending is just closed.
      if (partial) void conn.closeWithMessage(ERR_REPLY);
      else conn.close();
    }
  }

  // The reply has not all left in the idle timeout: the client reads
  // nothing (the kernel's buffers are full). Nothing more can reach it,
  // so an RST, which also drops what is queued for it at once.
  #resetUnread(conn: ServerConn, waiting: Waiting, now: number): void {
    waiting.unreadMs = now - waiting.since;
    // Without FFI a plain close: the kernel still sends an RST when input
    // is left unread, as it is from a client that keeps sending.
    if (this.#mayReset) conn.closeWithReset();
    else conn.close();
  }
}

/** Formats the listener addresses for the `listening on` lines. */
export function listeningLines(addrs: readonly Deno.NetAddr[]): string[] {
  return addrs.map((addr) =>
    `listening on ${formatHostPort(addr.hostname, addr.port)}`
  );
}
