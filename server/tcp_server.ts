/**
 * The listener machinery every tcpkit server mode shares: accept loop,
 * connection limit, idle sweep, and a graceful drain.
 */
import { formatAddr } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { IDLE_MESSAGE, ServerConn } from "./server_conn.ts";

const log = tcpkitLogger("server");

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
  /** Close connections idle this long, in ms; 0 disables. @default {0} */
  idleTimeoutMs?: number;
  /** How long a drain waits for connections to finish, in ms. @default {10000} */
  drainTimeoutMs?: number;
  /** Called on every accepted connection before the handler, e.g. for socket options. */
  configure?: (conn: Deno.TcpConn) => void;
  /** The line sent to a connection refused by `maxConns`. @default {"ERR too many connections\n"} */
  refusalMessage?: string;
}

/**
 * A TCP listener that runs a handler per connection, enforces the
 * connection limit and idle timeout, and drains gracefully.
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
  readonly #options: Required<Omit<TcpServerOptions, "configure">> & {
    configure: ((conn: Deno.TcpConn) => void) | undefined;
  };
  readonly #conns = new Set<ServerConn>();
  readonly #handlers = new Set<Promise<void>>();
  readonly #done: Promise<void>;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #nextId = 1;
  #accepted = 0;
  #refused = 0;
  #closing = false;

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
      idleTimeoutMs: options.idleTimeoutMs ?? 0,
      drainTimeoutMs: options.drainTimeoutMs ?? 10000,
      configure: options.configure,
      refusalMessage: options.refusalMessage ?? "ERR too many connections\n",
    };
    this.#handler = handler;
    const { hostname, port, backlog, reusePort } = this.#options;
    this.#listener = Deno.listen({
      hostname,
      port,
      tcpBacklog: backlog,
      ...(reusePort ? { reusePort: true } : {}),
    });
    const idle = this.#options.idleTimeoutMs;
    if (idle > 0) {
      this.#sweep = setInterval(
        () => this.#sweepIdle(),
        Math.min(1000, Math.max(50, idle / 4)),
      );
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

  /** Resolves once the server has stopped and every connection is closed. */
  get finished(): Promise<void> {
    return this.#done;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) break;
        // EMFILE and friends: back off instead of spinning.
        log.warn("accept failed: {error}", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      this.#admit(conn);
    }
    await this.#drainConnections();
  }

  #admit(conn: Deno.TcpConn): void {
    const peer = formatAddr(conn.remoteAddr);
    const { maxConns, refusalMessage } = this.#options;
    if (maxConns > 0 && this.#conns.size >= maxConns) {
      this.#refused++;
      log.warn("refusing {peer}: {count} connections open (limit {maxConns})", {
        peer,
        count: this.#conns.size,
        maxConns,
      });
      const refused = new ServerConn(conn, 0, peer);
      this.#track(refused.closeWithMessage(refusalMessage));
      return;
    }
    const serverConn = new ServerConn(conn, this.#nextId++, peer);
    this.#accepted++;
    this.#conns.add(serverConn);
    log.debug("connection {id} from {peer}", { id: serverConn.id, peer });
    try {
      this.#options.configure?.(conn);
    } catch (error) {
      log.warn("cannot set socket options for {peer}: {error}", {
        peer,
        error: String(error),
      });
    }
    this.#track(this.#serve(serverConn));
  }

  async #serve(conn: ServerConn): Promise<void> {
    try {
      await this.#handler(conn);
    } catch (error) {
      if (!conn.closed) {
        log.debug("connection {id} from {peer} ended: {error}", {
          id: conn.id,
          peer: conn.peer,
          error: String(error),
        });
      }
    } finally {
      conn.close();
      this.#conns.delete(conn);
      log.debug("connection {id} from {peer} closed", {
        id: conn.id,
        peer: conn.peer,
      });
    }
  }

  #track(promise: Promise<void>): void {
    this.#handlers.add(promise);
    promise.finally(() => this.#handlers.delete(promise));
  }

  #sweepIdle(): void {
    const limit = performance.now() - this.#options.idleTimeoutMs;
    for (const conn of this.#conns) {
      if (!conn.busy && !conn.closed && conn.lastActivity < limit) {
        log.info("closing idle connection {id} from {peer}", {
          id: conn.id,
          peer: conn.peer,
        });
        conn.busy = true; // one message only
        void conn.closeWithMessage(IDLE_MESSAGE);
      }
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
      try {
        this.#listener.close();
      } catch {
        // Already closed.
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
    // New handlers cannot appear: the accept loop has ended.
    await Promise.race([Promise.allSettled([...this.#handlers]), deadline]);
    clearTimeout(timer);
    for (const conn of this.#conns) conn.close();
    await Promise.allSettled([...this.#handlers]);
    clearInterval(this.#sweep);
  }

  /** Same as {@linkcode TcpServer.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
