/**
 * The listener machinery every tcpkit server mode shares: accept loop,
 * connection limits, idle sweep, and a graceful drain.
 */
import { LogBudget } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import type { FaultSet } from "./fault_set.ts";
import { IDLE_MESSAGE, ServerConn } from "./server_conn.ts";
import { acceptErrorAction, logAcceptFailure } from "./accept_error.ts";

const log = tcpkitLogger("server");
// Lines a remote client can cause: a flood of them must not flood the log.
const budget = new LogBudget();

/** Handles one connection; the server closes it when the promise settles. */
export type ConnectionHandler = (conn: ServerConn) => Promise<void>;

/** Options of {@linkcode TcpServer}. */
export interface TcpServerOptions {
  /** Address to listen on; IPv6 literals and `::` work. @default {"0.0.0.0"} */
  hostname?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** Listen queue length. @default {511} */
  backlog?: number;
  /** Set SO_REUSEPORT (needs `--unstable-net`). @default {false} */
  reusePort?: boolean;
  /** Most connections served at once; 0 means no limit. @default {10000} */
  maxConns?: number;
  /**
   * At `maxConns`: `"refuse"` accepts and sends `refusalMessage`, `"pause"`
   * stops accepting so new connections wait in the backlog.
   * @default {"refuse"}
   */
  maxConnsPolicy?: "refuse" | "pause";
  /** Stop accepting after this many connections, then finish once they end; 0 never. @default {0} */
  maxTotalConns?: number;
  /** Close connections idle this long, in ms; 0 disables. @default {0} */
  idleTimeoutMs?: number;
  /** How long a drain waits for connections to finish, in ms. @default {10000} */
  drainTimeoutMs?: number;
  /** Server-side closes (idle, drain) send an RST instead of a FIN. @default {false} */
  resetOnClose?: boolean;
  /** Called once on the new listener, e.g. to set socket options accepted sockets inherit. */
  configureListener?: (listener: Deno.TcpListener) => void;
  /** Called on every accepted connection before the handler. */
  configure?: (conn: Deno.TcpConn) => void;
  /** The line sent to a connection refused by `maxConns`. @default {"ERR too many connections\n"} */
  refusalMessage?: string;
  /** Faults to inject: drawn per new connection; `stall-accept` stops accepting. */
  faults?: FaultSet;
}

/**
 * A TCP listener that runs a handler per connection, enforces the
 * connection limits and idle timeout, and drains gracefully.
 *
 * @example
 * ```ts ignore
 * import { TcpServer } from "./tcp_server.ts";
 * await using server = new TcpServer(async (conn) => {
 *   await conn.writeAll("hello\n");
 * }, { hostname: "127.0.0.1", port: 0 });
 * console.log(server.addr.port);
 * ```
 */
export class TcpServer {
  readonly #listener: Deno.TcpListener;
  readonly #handler: ConnectionHandler;
  readonly #options:
    & Required<
      Omit<TcpServerOptions, "configure" | "configureListener" | "faults">
    >
    & {
      configure: ((conn: Deno.TcpConn) => void) | undefined;
    };
  readonly #faults: FaultSet | undefined;
  // Accepted while accepting was stalled: held, unserved, like the backlog.
  readonly #held: Deno.TcpConn[] = [];
  #stalled = false;
  #unstall: (() => void) | undefined;
  readonly #conns = new Set<ServerConn>();
  // Closes of refused connections still in progress.
  readonly #refusing = new Set<Promise<void>>();
  readonly #done: Promise<void>;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #slotFreed: (() => void) | undefined;
  #nextId = 1;
  #accepted = 0;
  #refused = 0;
  #closing = false;
  #retiring = false;

  /**
   * Listens at once (so `addr` is known) and starts accepting.
   *
   * @throws {Deno.errors.AddrInUse} when the address is taken.
   */
  constructor(handler: ConnectionHandler, options: TcpServerOptions = {}) {
    this.#options = {
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 0,
      backlog: options.backlog ?? 511,
      reusePort: options.reusePort ?? false,
      maxConns: options.maxConns ?? 10000,
      maxConnsPolicy: options.maxConnsPolicy ?? "refuse",
      maxTotalConns: options.maxTotalConns ?? 0,
      idleTimeoutMs: options.idleTimeoutMs ?? 0,
      drainTimeoutMs: options.drainTimeoutMs ?? 10000,
      resetOnClose: options.resetOnClose ?? false,
      configure: options.configure,
      refusalMessage: options.refusalMessage ?? "ERR too many connections\n",
    };
    this.#handler = handler;
    this.#faults = options.faults;
    const { hostname, port, backlog, reusePort } = this.#options;
    this.#listener = Deno.listen({
      hostname,
      port,
      tcpBacklog: backlog,
      ...(reusePort ? { reusePort: true } : {}),
    });
    try {
      options.configureListener?.(this.#listener);
    } catch (error) {
      this.#listener.close();
      throw error;
    }
    if (this.#faults) {
      this.#stalled = this.#faults.stallAccept;
      this.#faults.onChange(() => this.#setStalled(this.#faults!.stallAccept));
    }
    const idle = this.#options.idleTimeoutMs;
    if (idle > 0) {
      const period = Math.min(1000, Math.max(20, idle / 4));
      this.#sweep = setInterval(() => this.#sweepIdle(), period);
    }
    this.#done = this.#acceptLoop();
  }

  /** The address actually bound (port 0 resolved). */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** The raw listener, e.g. to read its fd through `ffi/`. */
  get listener(): Deno.TcpListener {
    return this.#listener;
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Connections accepted and served since start. */
  get acceptedCount(): number {
    return this.#accepted;
  }

  /** Connections refused by the connection limit since start. */
  get refusedCount(): number {
    return this.#refused;
  }

  /** True once `maxTotalConns` was reached: no more accepting. */
  get retiring(): boolean {
    return this.#retiring;
  }

  /** Resolves once the server has stopped and every connection is closed. */
  get finished(): Promise<void> {
    return this.#done;
  }

  async #acceptLoop(): Promise<void> {
    const { maxConns, maxConnsPolicy, maxTotalConns } = this.#options;
    while (!this.#closing) {
      while (this.#stalled && !this.#closing) {
        await new Promise<void>((resolve) => this.#unstall = resolve);
      }
      if (this.#closing) break;
      if (
        maxConnsPolicy === "pause" && maxConns > 0 &&
        this.#conns.size >= maxConns
      ) {
        log.info(
          "pausing accept: {count} connections open (limit {maxConns})",
          {
            count: this.#conns.size,
            maxConns,
          },
        );
        while (!this.#closing && this.#conns.size >= maxConns) {
          await new Promise<void>((resolve) => this.#slotFreed = resolve);
        }
        if (this.#closing) break;
        log.info("resuming accept");
      }
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) break;
        if (acceptErrorAction(error) === "next") {
          // Reset while it waited in the backlog: nothing to serve, no pause.
          log.debug("accept: connection gone before accept: {error}", {
            error: String(error),
          });
          continue;
        }
        // EMFILE and friends: back off instead of spinning.
        logAcceptFailure(error);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (this.#stalled) {
        // accept() was already waiting when the stall began.
        this.#held.push(conn);
        continue;
      }
      this.#admit(conn);
      if (maxTotalConns > 0 && this.#accepted >= maxTotalConns) {
        this.#retiring = true;
        log.info(
          "served {count} connections (limit {maxTotalConns}): no longer accepting",
          {
            count: this.#accepted,
            maxTotalConns,
          },
        );
        this.#closeListener();
        await this.#allDone();
        break;
      }
    }
    await this.#drainConnections();
  }

  #admit(conn: Deno.TcpConn): void {
    const { maxConns, refusalMessage, resetOnClose } = this.#options;
    if (maxConns > 0 && this.#conns.size >= maxConns) {
      this.#refused++;
      const refused = new ServerConn(conn, 0, { resetOnClose });
      const more = budget.tail("refuse");
      if (more !== undefined) {
        log.warn(
          "refusing {peer}: {count} connections open (limit {maxConns}){more}",
          { peer: refused.peer, count: this.#conns.size, maxConns, more },
        );
      }
      const closing = refused.closeWithMessage(refusalMessage);
      this.#refusing.add(closing);
      closing.finally(() => this.#refusing.delete(closing));
      return;
    }
    const serverConn = new ServerConn(conn, this.#nextId++, { resetOnClose });
    serverConn.faults = this.#faults?.forNewConnection();
    this.#accepted++;
    this.#conns.add(serverConn);
    log.debug(
      "connection {id} from {peer}",
      () => ({ id: serverConn.id, peer: serverConn.peer }),
    );
    try {
      this.#options.configure?.(conn);
    } catch (error) {
      log.warn("cannot set socket options for {peer}: {error}", {
        peer: serverConn.peer,
        error: String(error),
      });
    }
    serverConn.done = this.#serve(serverConn);
  }

  async #serve(conn: ServerConn): Promise<void> {
    try {
      await this.#handler(conn);
    } catch (error) {
      if (!conn.closed) {
        log.debug("connection {id} from {peer} ended: {error}", () => ({
          id: conn.id,
          peer: conn.peer,
          error: String(error),
        }));
      }
    } finally {
      if (conn.draining) conn.closeByServer();
      else conn.close();
      this.#conns.delete(conn);
      this.#slotFreed?.();
      this.#slotFreed = undefined;
      log.debug(
        "connection {id} from {peer} closed",
        () => ({ id: conn.id, peer: conn.peer }),
      );
    }
  }

  /** Settles when every connection open now (and every refusal) is done. */
  #allDone(): Promise<unknown> {
    return Promise.allSettled([
      ...[...this.#conns].map((c) => c.done),
      ...this.#refusing,
    ]);
  }

  #sweepIdle(): void {
    const now = performance.now();
    const limit = this.#options.idleTimeoutMs;
    for (const conn of this.#conns) {
      if (conn.closed) continue;
      const since = conn.writingSince;
      if (since !== undefined && now - since >= limit) {
        // A peer that reads nothing holds a reply, its slot and kernel
        // buffers: nothing more can reach it, so reset it.
        const more = budget.tail("stalled");
        if (more !== undefined) {
          log.info(
            "resetting connection {id} from {peer}: it read nothing for {seconds} s{more}",
            {
              id: conn.id,
              peer: conn.peer,
              seconds: Math.round((now - since) / 1000),
              more,
            },
          );
        }
        conn.closeWithReset();
        continue;
      }
      if (conn.busy) continue;
      if (conn.activity !== conn.idleSeen) {
        conn.idleSeen = conn.activity;
        conn.idleSince = now;
      } else if (now - conn.idleSince >= limit) {
        const more = budget.tail("idle");
        if (more !== undefined) {
          log.info("closing idle connection {id} from {peer}{more}", {
            id: conn.id,
            peer: conn.peer,
            more,
          });
        }
        conn.busy = true; // one message only
        void conn.closeWithMessage(IDLE_MESSAGE);
      }
    }
  }

  #setStalled(stalled: boolean): void {
    if (stalled === this.#stalled) return;
    this.#stalled = stalled;
    log.info(stalled ? "accepting stalled" : "accepting again");
    if (!stalled) {
      for (const conn of this.#held.splice(0)) this.#admit(conn);
      this.#unstall?.();
      this.#unstall = undefined;
    }
  }

  #closeListener(): void {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Stops accepting, lets each connection finish the reply in progress,
   * waits up to `drainTimeoutMs`, then closes what is left. Resolves when
   * everything is closed. Safe to call twice.
   */
  shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#closeListener();
      this.#slotFreed?.();
      this.#unstall?.();
      for (const conn of this.#held.splice(0)) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    }
    return this.#done;
  }

  async #drainConnections(): Promise<void> {
    for (const conn of this.#conns) conn.drain();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#options.drainTimeoutMs);
    });
    // No connection can be added: the accept loop has ended.
    await Promise.race([this.#allDone(), deadline]);
    clearTimeout(timer);
    for (const conn of this.#conns) conn.closeByServer();
    await this.#allDone();
    clearInterval(this.#sweep);
  }

  /** Same as {@linkcode TcpServer.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
