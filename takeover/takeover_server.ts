/**
 * A TCP server whose listener and live connections can be handed over to a
 * new process, and taken over from an old one, with nothing lost.
 *
 * @module
 */

import { errorMessage, formatHostPort, LogBudget } from "../common/mod.ts";
import {
  acceptSocket,
  closeFd,
  constants,
  formatIp,
  getPeerName,
  getSockName,
  listenTcp,
  normalizeAddress,
  Reactor,
  setSocketOption,
  type SocketAddress,
  socketCookies,
} from "../ffi/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { AcceptFailures } from "./_accept_failures.ts";
import { LIBC_ENV } from "./_env_libc.ts";
import { type ConnHost, ServedConn } from "./_served_conn.ts";
import { warmUp } from "./_warm_up.ts";
import {
  HandoverOffer,
  type HandoverSnapshot,
  type HandoverSource,
  type TakeoverEvent,
} from "./handover_offer.ts";
import {
  DEFAULT_HANDOVER_TIMEOUT_MS,
  fromBase64,
  type JsonValue,
  type ListenerRecord,
} from "./protocol.ts";
import { receiveHandover } from "./receive_handover.ts";
import type {
  CloseReason,
  ConnectionHandler,
  TakeoverConn,
} from "./takeover_conn.ts";
import type { PeerIdentity, TakeoverEnv } from "./takeover_env.ts";

const { EPOLLIN } = constants;
const log = tcpkitLogger("takeover");

/** Pause before accepting again after accept() failed (EMFILE…), in ms. */
const ACCEPT_RETRY_MS = 100;
/** Most connections accepted per readiness event, for fairness. */
const ACCEPTS_PER_EVENT = 256;
// Clients can make a server reach its connection limit again and again.
const limitLog = new LogBudget({ lines: 1, windowMs: 60_000 });

/** Options shared by {@linkcode TakeoverServer.listen} and {@linkcode TakeoverServer.takeOver}. */
export interface TakeoverServerOptions {
  /** Serves the connections. */
  handler: ConnectionHandler;
  /**
   * Most unconsumed input kept per connection, in bytes; more closes the
   * connection ("overflow").
   * @default {1048576}
   */
  maxUnreadBytes?: number;
  /**
   * Unsent output per connection above which its reading pauses until half
   * of it is sent, in bytes; handlers see it as `conn.outputFull` and
   * should stop answering (see {@linkcode TakeoverConn.outputFull}).
   * @default {4194304}
   */
  maxUnsentBytes?: number;
  /**
   * Most connections served at once: at the limit the server stops
   * accepting (new connections wait in the listen queue) until one closes.
   * It bounds the fds and memory clients can take.
   * @default {Infinity}
   */
  maxConnections?: number;
  /** Told about refusals, handovers and rollbacks (they are logged too). */
  onEvent?: (event: TakeoverEvent) => void;
  /** The OS seam; tests replace parts of it. @default {the real libc one} */
  env?: TakeoverEnv;
}

/** Options of {@linkcode TakeoverServer.listen}. */
export interface TakeoverListenOptions extends TakeoverServerOptions {
  /** IP literal to listen on; `"::"` is dual-stack. @default {"0.0.0.0"} */
  hostname?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** Listen queue length: connections wait there during a handover. @default {511} */
  backlog?: number;
}

/** Options of {@linkcode TakeoverServer.takeOver}. */
export interface TakeOverOptions extends TakeoverServerOptions {
  /** Connect to commit must take at most this, in ms. @default {5000} */
  timeoutMs?: number;
  /** Receives the old process's application state before anything is served. */
  restore?: (appState: JsonValue) => void;
  /** Called between receiving the sockets and acknowledging (tests stall here). */
  beforeAck?: (
    received: { listeners: number; connections: number },
  ) => Promise<void> | void;
}

/** Options of {@linkcode TakeoverServer.offer}. */
export interface OfferOptions {
  /**
   * How long the new process has, from the pause to its acknowledgement (and
   * for its hello), before this process rolls back, in ms.
   * @default {5000}
   */
  timeoutMs?: number;
  /** The application state to send, read at the moment of the handover. @default {() => null} */
  appState?: () => JsonValue;
}

/** What a server did before {@linkcode TakeoverServer.finished} settled. */
export type ServerOutcome = "closed" | "handed-over";

/** What {@linkcode TakeoverServer.takeOver} received. */
export interface TakeoverInfo {
  /** The control socket taken over from. */
  readonly path: string;
  /** The old process's pid, as the kernel reported it (`SO_PEERCRED`). */
  readonly fromPid: number;
  /** Listening sockets received. */
  readonly listeners: number;
  /** Connections received. */
  readonly connections: number;
  /** Connect to commit, in ms. */
  readonly elapsedMs: number;
  /** The application state received. */
  readonly appState: JsonValue;
}

interface ListenerEntry {
  readonly fd: number;
  readonly addr: Deno.NetAddr;
  readonly cookie: string;
  /** Failed accepts (out of fds), logged once per episode. */
  readonly failures: AcceptFailures;
}

function acceptFailures(addr: Deno.NetAddr): AcceptFailures {
  return new AcceptFailures(formatHostPort(addr.hostname, addr.port), {
    log,
    retryMs: ACCEPT_RETRY_MS,
  });
}

/** A reactor whose internal failures are logged: a server must not die of one. */
function createReactor(): Reactor {
  return Reactor.create({
    onError: (error, fd) => {
      log.error("event handler for fd {fd} failed: {error}", {
        fd,
        error: error instanceof Error
          ? (error.stack ?? error.message)
          : String(error),
      });
    },
  });
}

function toNetAddr(address: SocketAddress): Deno.NetAddr {
  const normal = normalizeAddress(address);
  return {
    transport: "tcp",
    hostname: formatIp(normal.address),
    port: normal.port,
  };
}

function parseNetAddr(text: string): Deno.NetAddr {
  const colon = text.lastIndexOf(":");
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return {
    transport: "tcp",
    hostname: host,
    port: Number(text.slice(colon + 1)),
  };
}

/**
 * A TCP server on raw, fd-owned sockets, served through an epoll reactor,
 * that can hand over its listener *and its live connections* — with their
 * unread input, unsent output and state — to a new process, and take them
 * over from an old one. See the module doc of `takeover/mod.ts` for the
 * protocol and its guarantees.
 *
 * @example A line server whose GOOD/BAD state survives a handover
 * ```ts ignore
 * import { TakeoverServer } from "@tcpkit/tcpkit/takeover";
 *
 * let health = "GOOD";
 * const handler = {
 *   onData(conn, data) {
 *     const end = data.lastIndexOf(10); // '\n'
 *     if (end < 0) return 0; // a partial line: kept, and handed over
 *     conn.write(new TextEncoder().encode(`${health}\n`));
 *     return end + 1;
 *   },
 * };
 * const server = Deno.args[0] === "--takeover-from"
 *   ? await TakeoverServer.takeOver(Deno.args[1], {
 *     handler,
 *     restore: (state) => health = (state as { health: string }).health,
 *   })
 *   : TakeoverServer.listen({ port: 1971, handler });
 * server.offer("/run/linesrv.sock", { appState: () => ({ health }) });
 * await server.finished; // "handed-over" once a new process took over
 * ```
 */
export class TakeoverServer {
  readonly #reactor: Reactor;
  readonly #handler: ConnectionHandler;
  readonly #env: TakeoverEnv;
  readonly #onEvent: ((event: TakeoverEvent) => void) | undefined;
  readonly #host: ConnHost;
  readonly #listeners = new Map<number, ListenerEntry>();
  readonly #addrs: Deno.NetAddr[] = [];
  readonly #conns = new Map<number, ServedConn>();
  readonly #finished = Promise.withResolvers<ServerOutcome>();
  #nextId = 1;
  #accepted = 0;
  readonly #maxConnections: number;
  #atLimit = false;
  #paused = false;
  #state: "serving" | "handed-over" | "closing" | "closed" = "serving";
  #offer: HandoverOffer | undefined;
  #replyWaiter: (() => void) | undefined;
  #acceptRetry: ReturnType<typeof setTimeout> | undefined;
  #tookOver: TakeoverInfo | undefined;
  #closing: Promise<void> | undefined;

  private constructor(reactor: Reactor, options: TakeoverServerOptions) {
    this.#reactor = reactor;
    this.#handler = options.handler;
    this.#env = options.env ?? LIBC_ENV;
    this.#onEvent = options.onEvent;
    this.#maxConnections = options.maxConnections ?? Infinity;
    if (
      this.#maxConnections !== Infinity &&
      (!Number.isSafeInteger(this.#maxConnections) || this.#maxConnections < 1)
    ) {
      throw new RangeError(
        `Invalid maxConnections: expected a positive integer, got ${this.#maxConnections}`,
      );
    }
    const maxUnreadBytes = options.maxUnreadBytes ?? 1 << 20;
    const maxUnsentBytes = options.maxUnsentBytes ?? 4 << 20;
    for (
      const [name, value] of [
        ["maxUnreadBytes", maxUnreadBytes],
        ["maxUnsentBytes", maxUnsentBytes],
      ] as const
    ) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(
          `Invalid ${name}: expected a positive integer, got ${value}`,
        );
      }
    }
    const readBuffer = new Uint8Array(1 << 16);
    // deno-lint-ignore no-this-alias
    const server = this;
    this.#host = {
      reactor,
      handler: this.#handler,
      readBuffer,
      maxUnreadBytes,
      maxUnsentBytes,
      get paused() {
        return server.#paused;
      },
      connClosed: (conn, reason) => this.#connClosed(conn, reason),
      replyDone: () => this.#replyWaiter?.(),
      handlerFailed: (conn, error) => {
        log.error("handler failed on connection {id}: {error}", {
          id: conn.id,
          error: error instanceof Error
            ? (error.stack ?? error.message)
            : String(error),
        });
      },
    };
    this.#finished.promise.catch(() => {});
  }

  /**
   * Listens on a new, fd-owned TCP socket (`SO_REUSEADDR`, `TCP_NODELAY`
   * inherited by accepted connections) and starts serving.
   *
   * @param options Address, port, backlog, handler and limits.
   * @returns The serving server.
   * @throws {Deno.errors.AddrInUse} When the port is taken.
   * @throws {ErrnoError} When another socket call fails.
   */
  static listen(options: TakeoverListenOptions): TakeoverServer {
    const listener = listenTcp({
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 0,
      backlog: options.backlog ?? 511,
    });
    let reactor: Reactor | undefined;
    try {
      setSocketOption(listener.fd, "TCP_NODELAY", 1);
      reactor = createReactor();
      const server = new TakeoverServer(reactor, options);
      const addr = toNetAddr(listener.address);
      server.#addListener({
        fd: listener.fd,
        addr,
        cookie: String(socketCookies([listener.fd])[0]),
        failures: acceptFailures(addr),
      });
      server.#watchListeners();
      return server;
    } catch (error) {
      closeFd(listener.fd);
      void reactor?.close();
      throw error;
    }
  }

  /**
   * Serves listening TCP sockets this process already holds (systemd's, see
   * `net/socket_activation.ts`: checked, non-blocking) instead of opening
   * one. The server owns them afterwards, and hands them over like its own.
   *
   * @param fds The listening fds, at least one.
   * @param options Handler and limits.
   * @returns The serving server.
   * @throws {RangeError} When `fds` is empty.
   * @throws {ErrnoError} When a socket call fails.
   */
  static adopt(
    fds: readonly number[],
    options: TakeoverServerOptions,
  ): TakeoverServer {
    if (fds.length === 0) throw new RangeError("No listening socket to serve");
    const reactor = createReactor();
    try {
      const server = new TakeoverServer(reactor, options);
      for (const fd of fds) {
        const address = getSockName(fd);
        if (address === null) {
          throw new TypeError(
            `fd ${fd} is not a bound socket: cannot serve it`,
          );
        }
        // As listen() does: accepted connections inherit TCP_NODELAY.
        setSocketOption(fd, "TCP_NODELAY", 1);
        const addr = toNetAddr(address);
        server.#addListener({
          fd,
          addr,
          cookie: String(socketCookies([fd])[0]),
          failures: acceptFailures(addr),
        });
      }
      server.#watchListeners();
      return server;
    } catch (error) {
      void reactor.close();
      throw error;
    }
  }

  /**
   * Takes over the listeners and connections of the process offering at
   * `path`, then serves them: the unsent output of each connection goes
   * out first, then its unread input is processed.
   *
   * @param path The old process's control socket.
   * @param options Handler, limits, timeout and `restore`.
   * @returns The serving server; {@linkcode TakeoverServer.tookOver} says what came.
   * @throws {TakeoverUnavailableError} When nothing offers at `path`.
   * @throws {TakeoverRefusedError} When we are refused.
   * @throws {TakeoverTimeoutError} When it takes longer than `timeoutMs`.
   * @throws {TakeoverAbortedError} When the old process goes away.
   * @throws {TakeoverProtocolError} When something does not check out.
   */
  static async takeOver(
    path: string,
    options: TakeOverOptions,
  ): Promise<TakeoverServer> {
    const reactor = createReactor();
    const env = options.env ?? LIBC_ENV;
    let received;
    try {
      received = await receiveHandover(path, {
        reactor,
        env,
        timeoutMs: options.timeoutMs ?? DEFAULT_HANDOVER_TIMEOUT_MS,
        beforeReady: () => warmUp(reactor),
        ...(options.beforeAck === undefined
          ? {}
          : { beforeAck: options.beforeAck }),
      });
    } catch (error) {
      await reactor.close();
      throw error;
    }
    const server = new TakeoverServer(reactor, options);
    server.#nextId = received.nextId;
    for (const { record, fd } of received.listeners) {
      const address = getSockName(fd);
      const addr = address === null
        ? parseNetAddr(record.addr)
        : toNetAddr(address);
      server.#addListener({
        fd,
        addr,
        cookie: record.cookie,
        failures: acceptFailures(addr),
      });
    }
    server.#tookOver = {
      path,
      fromPid: received.fromPid,
      listeners: received.listeners.length,
      connections: received.connections.length,
      elapsedMs: received.elapsedMs,
      appState: received.appState,
    };
    try {
      options.restore?.(received.appState);
    } catch (error) {
      log.error("restore() failed: {error}", {
        error: errorMessage(error),
      });
    }
    const conns: [ServedConn, (typeof received.connections)[number]][] = [];
    for (const item of received.connections) {
      const { record, fd } = item;
      // The fd is the socket described (its cookie was checked): trust the
      // addresses rather than ask the kernel again while clients wait.
      const conn = new ServedConn(
        server.#host,
        fd,
        record.id,
        parseNetAddr(record.local),
        parseNetAddr(record.remote),
        record.cookie,
      );
      conn.state = record.state;
      server.#conns.set(conn.id, conn);
      conns.push([conn, item]);
      if (record.id >= server.#nextId) server.#nextId = record.id + 1;
    }
    const startAt = performance.now();
    server.#watchListeners();
    for (const [conn, { record }] of conns) {
      conn.start(true, {
        unread: fromBase64(record.unread),
        unsent: fromBase64(record.unsent),
        closing: record.closing,
      });
    }
    log.debug(
      "takeover phases (ms): connect {connect}, prepare {prepare}, receive {receive}, commit {commit}, start {start}",
      {
        ...Object.fromEntries(
          Object.entries(received.phasesMs).map(([k, v]) => [k, v.toFixed(1)]),
        ),
        start: (performance.now() - startAt).toFixed(1),
      },
    );
    return server;
  }

  /** The first listener's address (with the real port); still known after close. */
  get addr(): Deno.NetAddr {
    const first = this.#addrs[0];
    if (first === undefined) throw new Error("The server has no listener");
    return first;
  }

  /** Every listener's address; still known after close. */
  get addrs(): Deno.NetAddr[] {
    return [...this.#addrs];
  }

  /** Connections served now. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Connections accepted by this process. */
  get acceptedCount(): number {
    return this.#accepted;
  }

  /** The connections served now. */
  get connections(): TakeoverConn[] {
    return [...this.#conns.values()];
  }

  /** What was received, when this server was made by {@linkcode TakeoverServer.takeOver}. */
  get tookOver(): TakeoverInfo | undefined {
    return this.#tookOver;
  }

  /** The path offered, if any. */
  get offering(): string | undefined {
    return this.#offer?.path;
  }

  /** Whether a handover is under way. */
  get handingOver(): boolean {
    return this.#offer?.busy ?? false;
  }

  /**
   * Settles once the server is done: `"handed-over"` after a committed
   * handover (every socket is the new process's; ours are closed), or
   * `"closed"` after {@linkcode TakeoverServer.close}.
   */
  get finished(): Promise<ServerOutcome> {
    return this.#finished.promise;
  }

  /**
   * Offers this server's sockets on a Unix socket at `path` (mode 0600): a
   * process of the same user (or root) that connects there takes
   * everything over, by the protocol in the module doc. Only one path at a
   * time. Only a stale socket file at `path` is replaced, and, after
   * {@linkcode TakeoverServer.takeOver} from `path`, the old process's.
   *
   * @param path The control socket's path.
   * @param options Timeout and application state.
   * @throws {Error} When already offering, or not serving.
   * @throws {Deno.errors.AlreadyExists} When something other than a socket
   * is at `path`: nothing is replaced.
   * @throws {Deno.errors.AddrInUse} When another server offers at `path`.
   * @throws {ErrnoError} When the socket cannot be created.
   */
  offer(path: string, options: OfferOptions = {}): void {
    if (this.#state !== "serving") {
      throw new Error(`Cannot offer a takeover: the server is ${this.#state}`);
    }
    if (this.#offer !== undefined) {
      throw new Error(`Already offering a takeover on ${this.#offer.path}`);
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_HANDOVER_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
      throw new RangeError(
        `Invalid timeoutMs: expected a positive integer, got ${timeoutMs}`,
      );
    }
    const appState = options.appState ?? (() => null);
    const source: HandoverSource = {
      count: () => ({
        listeners: this.#listeners.size,
        connections: this.#conns.size,
      }),
      pause: (signal) => this.#pause(signal, appState),
      resume: () => this.#resume(),
      release: () => this.#release(),
    };
    const from = this.#tookOver;
    this.#offer = new HandoverOffer(path, source, this.#reactor, {
      timeoutMs,
      env: this.#env,
      // The process we took over from may still be closing its socket at
      // this path (or be too busy to accept the probe): that one we
      // replace. Any other server there keeps it.
      ...(from?.path === path
        ? {
          replaceLive: (peer: PeerIdentity | null) =>
            peer === null || peer.pid === from.fromPid,
        }
        : {}),
      onEvent: (event) => this.#emit(event),
      onHandedOver: () => {
        this.#state = "handed-over";
        const offer = this.#offer;
        this.#offer = undefined;
        void (async () => {
          await offer?.close();
          await this.#reactor.close();
          this.#finished.resolve("handed-over");
        })();
      },
    });
  }

  /**
   * Stops serving: stops offering (rolling back a handover under way, and
   * removing the control socket), closes the listeners and every
   * connection (a FIN each), and the reactor. After a committed handover it
   * only waits for the release to finish. Safe to call more than once.
   *
   * @returns Resolves once everything is closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Calls {@linkcode TakeoverServer.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    if (this.#state === "handed-over") {
      await this.#finished.promise;
      return;
    }
    const offer = this.#offer;
    this.#offer = undefined;
    await offer?.close();
    // The handover may have committed while the offer closed.
    if (this.#isHandedOver()) {
      await this.#finished.promise;
      return;
    }
    this.#state = "closing";
    clearTimeout(this.#acceptRetry);
    for (const entry of this.#listeners.values()) {
      entry.failures.ended("stopped");
      this.#reactor.unwatch(entry.fd);
      closeFd(entry.fd);
    }
    this.#listeners.clear();
    for (const conn of [...this.#conns.values()]) conn.destroy("shutdown");
    await this.#reactor.close();
    this.#state = "closed";
    this.#finished.resolve("closed");
  }

  #isHandedOver(): boolean {
    return this.#state === "handed-over";
  }

  #emit(event: TakeoverEvent): void {
    switch (event.type) {
      case "refused":
        log.warn(
          "refused a takeover on {path} from pid {pid} uid {uid}: {reason}",
          {
            path: event.path,
            pid: event.peer.pid,
            uid: event.peer.uid,
            reason: event.reason,
          },
        );
        break;
      case "abandoned":
        log.warn("takeover request from pid {pid} abandoned: {error}", {
          pid: event.pid,
          error: event.error.message,
        });
        break;
      case "handing-over":
        log.info("handing over to pid {pid}", { pid: event.pid });
        break;
      case "handed-over":
        log.debug(
          "handover phases (ms): stop {stop}, describe and send {send}, ack {ack}, commit {commit}, release {release}",
          Object.fromEntries(
            Object.entries(event.phasesMs).map(([k, v]) => [k, v.toFixed(1)]),
          ),
        );
        log.info(
          `handed over ${event.listeners} listener${
            event.listeners === 1 ? "" : "s"
          } and ${event.connections} connections (${event.unreadBytes} bytes read but not answered, ${event.unsentBytes} not yet sent) to pid ${event.pid} (paused ${
            event.pausedMs.toFixed(1)
          } ms)`,
        );
        break;
      case "rolled-back":
        log.warn(
          `takeover by pid ${event.pid} failed: ${event.error.message}; rolled back: serving ${event.connections} connections and accepting again (paused ${
            event.pausedMs.toFixed(1)
          } ms)`,
        );
        break;
    }
    try {
      this.#onEvent?.(event);
    } catch (error) {
      log.error("onEvent() failed: {error}", {
        error: errorMessage(error),
      });
    }
  }

  #addListener(entry: ListenerEntry): void {
    this.#listeners.set(entry.fd, entry);
    this.#addrs.push(entry.addr);
  }

  #watchListeners(): void {
    for (const entry of this.#listeners.values()) {
      this.#reactor.watch(entry.fd, EPOLLIN, () => this.#accept(entry));
    }
  }

  #accept(entry: ListenerEntry): void {
    for (let i = 0; i < ACCEPTS_PER_EVENT && !this.#paused; i++) {
      if (this.#conns.size >= this.#maxConnections) {
        this.#stopAtLimit();
        return;
      }
      let fd: number | null;
      try {
        fd = acceptSocket(entry.fd);
      } catch (error) {
        // Out of fds, most likely: the connection waits in the queue. A
        // client can keep us here, so one line per episode, not per retry.
        entry.failures.failed(error);
        this.#reactor.unwatch(entry.fd);
        // One timer re-watches every listener: two failing in one pass
        // must not leave an orphan timer behind.
        this.#acceptRetry ??= setTimeout(() => {
          this.#acceptRetry = undefined;
          if (this.#state === "serving" && !this.#paused) {
            this.#watchListeners();
          }
        }, ACCEPT_RETRY_MS);
        return;
      }
      entry.failures.ended("recovered");
      if (fd === null) return;
      const local = getSockName(fd);
      const remote = getPeerName(fd);
      if (local === null || remote === null) {
        // Reset before we got to it.
        closeFd(fd);
        continue;
      }
      const conn = new ServedConn(
        this.#host,
        fd,
        this.#nextId++,
        toNetAddr(local),
        toNetAddr(remote),
        String(socketCookies([fd])[0]),
      );
      this.#conns.set(conn.id, conn);
      this.#accepted++;
      conn.start(false);
    }
  }

  /** At the connection limit: the rest wait in the listen queue. */
  #stopAtLimit(): void {
    for (const entry of this.#listeners.values()) {
      this.#reactor.unwatch(entry.fd);
    }
    if (this.#atLimit) return;
    this.#atLimit = true;
    const more = limitLog.tail("limit");
    if (more !== undefined) {
      log.warn(
        "{count} connections open (limit {max}): not accepting until one closes{more}",
        { count: this.#conns.size, max: this.#maxConnections, more },
      );
    }
  }

  #connClosed(conn: ServedConn, reason: CloseReason): void {
    this.#conns.delete(conn.id);
    if (this.#atLimit && this.#conns.size < this.#maxConnections) {
      this.#atLimit = false;
      log.debug("{count} connections open (limit {max}): accepting again", {
        count: this.#conns.size,
        max: this.#maxConnections,
      });
      // Not while paused (the resume watches) or while a retry waits.
      if (
        this.#state === "serving" && !this.#paused &&
        this.#acceptRetry === undefined
      ) {
        this.#watchListeners();
      }
    }
    try {
      this.#handler.onClose?.(conn, reason);
    } catch (error) {
      this.#host.handlerFailed(conn, error);
    }
  }

  async #pause(
    signal: AbortSignal,
    appState: () => JsonValue,
  ): Promise<HandoverSnapshot> {
    // 1. Stop accepting: new connections wait in the listen queue, which
    //    moves with the listener.
    this.#paused = true;
    clearTimeout(this.#acceptRetry);
    this.#acceptRetry = undefined;
    for (const entry of this.#listeners.values()) {
      entry.failures.ended("stopped");
      this.#reactor.unwatch(entry.fd);
    }
    // 2. Stop reading, and let replies in flight finish.
    for (const conn of this.#conns.values()) conn.unwatch();
    while ([...this.#conns.values()].some((conn) => conn.busy > 0)) {
      signal.throwIfAborted();
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#replyWaiter = resolve;
      try {
        await promise;
      } finally {
        this.#replyWaiter = undefined;
        signal.removeEventListener("abort", onAbort);
      }
    }
    signal.throwIfAborted();
    const listeners = [...this.#listeners.values()].map((entry) => ({
      fd: entry.fd,
      record: {
        kind: "listener",
        network: "tcp",
        addr: formatHostPort(entry.addr.hostname, entry.addr.port),
        cookie: entry.cookie,
      } satisfies ListenerRecord,
    }));
    const connections = [...this.#conns.values()].map((conn) => ({
      fd: conn.fd,
      describe: () => {
        const { record } = conn.snapshot();
        // A closing connection may have sent its last bytes and closed.
        return this.#conns.has(conn.id) ? record : null;
      },
    }));
    return {
      listeners,
      connections,
      nextId: this.#nextId,
      appState: appState(),
    };
  }

  #resume(): void {
    this.#paused = false;
    if (this.#state !== "serving") return;
    this.#watchListeners();
    for (const conn of [...this.#conns.values()]) {
      conn.thaw();
      conn.watch();
      conn.resumeInput();
    }
  }

  #release(): void {
    for (const entry of this.#listeners.values()) closeFd(entry.fd);
    this.#listeners.clear();
    let lost = 0;
    for (const conn of this.#conns.values()) lost += conn.release();
    this.#conns.clear();
    if (lost > 0) {
      log.warn(
        "{lost} bytes written after the handover described their connections were dropped: finish replies with beginReply()",
        { lost },
      );
    }
  }
}
