/**
 * The `Deno.listen` engine: an accept loop that runs a handler per
 * connection under the shared {@linkcode ListenerPolicy} (limits, idle
 * sweep, back-off, drain). tcpservd's command and fault modes and iotcpd
 * serve on it. It can also serve a listening socket it is given by fd
 * (systemd's): then on raw sockets ({@linkcode FdListener}), since
 * `Deno.listen` cannot adopt an fd.
 */
import { formatAddr } from "../common/mod.ts";
import { Reactor, setNonBlocking, socketFdOf } from "../ffi/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import {
  IDLE_MESSAGE,
  type ListenerLimits,
  ListenerPolicy,
  type TrackedConn,
} from "./listener_policy.ts";
import { FdListener, type StreamConn } from "./fd_conn.ts";
import { PolicedServer } from "./policed_server.ts";
import { ServerConn } from "./server_conn.ts";

const log = tcpkitLogger("server");

/** Handles one connection; the server closes it when the promise settles. */
export type ConnectionHandler = (conn: ServerConn) => Promise<void>;

/**
 * Something that can hold accepting shut for a while: the `stall-accept`
 * fault. The server reads `stallAccept` at start and on every change.
 */
export interface AcceptGate {
  /** True while accepting must wait. */
  readonly stallAccept: boolean;
  /** Calls `listener` when `stallAccept` may have changed; returns an unsubscribe. */
  onChange(listener: () => void): () => void;
}

/** Options of {@linkcode TcpServer}. */
export interface TcpServerOptions extends ListenerLimits {
  /** Address to listen on; IPv6 literals and `::` work. @default {"0.0.0.0"} */
  hostname?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** Listen queue length. @default {511} */
  backlog?: number;
  /** Set SO_REUSEPORT (needs `--unstable-net`). @default {false} */
  reusePort?: boolean;
  /**
   * Serve this listening TCP socket instead of listening (systemd's socket
   * activation): `hostname`, `port`, `backlog` and `reusePort` are then
   * ignored, and the server owns the fd. Needs `--allow-ffi`.
   */
  listenFd?: number;
  /**
   * Called once with a way to find the listening socket's fd, e.g. to set
   * socket options that accepted sockets inherit. Call `listenerFd()` only
   * when needed: for a `Deno.listen` listener it scans the process's fds.
   */
  configureListener?: (listenerFd: () => number) => void;
  /** Called on every accepted connection before the handler. */
  configure?: (conn: StreamConn) => void;
  /** Holds accepting while it says so (tcpservd's `stall-accept` fault). */
  acceptGate?: AcceptGate;
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
export class TcpServer extends PolicedServer {
  readonly #listener: Deno.TcpListener | FdListener;
  // The adopted listener's reactor (thread-pool), closed at the end.
  readonly #reactor: Reactor | undefined;
  readonly #handler: ConnectionHandler;
  readonly #configure: ((conn: StreamConn) => void) | undefined;
  readonly #policy: ListenerPolicy<ServerConn>;
  // Accepted while accepting was held (a stall): kept, unserved, like the backlog.
  readonly #held: StreamConn[] = [];
  #resume: (() => void) | undefined;
  // Closes of refused connections still in progress.
  readonly #refusing = new Set<Promise<void>>();
  readonly #done: Promise<void>;
  #closing = false;
  // Resolved by shutdown(): a retired server waiting for its last
  // connections must still drain when asked.
  readonly #shutdownAsked = Promise.withResolvers<void>();
  #ungate: (() => void) | undefined;

  /**
   * Listens at once (so `addr` is known) and starts accepting.
   *
   * @throws {Deno.errors.AddrInUse} when the address is taken.
   * @throws {RangeError} when a limit is out of range.
   */
  constructor(handler: ConnectionHandler, options: TcpServerOptions = {}) {
    super();
    this.#handler = handler;
    this.#configure = options.configure;
    this.#policy = new ListenerPolicy<ServerConn>(options, {
      setAccepting: (on) => {
        if (!on) return;
        for (const conn of this.#held.splice(0)) this.#admit(conn);
        this.#resume?.();
        this.#resume = undefined;
      },
      retire: () => this.#closeListener(),
      closeIdle: (conn) => {
        conn.busy = true; // one message only
        void conn.closeWithMessage(IDLE_MESSAGE);
      },
      resetStalled: (conn) => conn.closeWithReset(),
      peer: (conn) => conn.peer,
    });
    // The policy first: it checks the limits before anything is opened.
    let reactor: Reactor | undefined;
    try {
      if (options.listenFd === undefined) {
        this.#listener = Deno.listen({
          hostname: options.hostname ?? "0.0.0.0",
          port: options.port ?? 0,
          tcpBacklog: options.backlog ?? 511,
          ...(options.reusePort ? { reusePort: true } : {}),
        });
      } else {
        setNonBlocking(options.listenFd);
        reactor = Reactor.create();
        this.#listener = new FdListener(options.listenFd, reactor);
      }
    } catch (error) {
      void reactor?.close();
      this.#policy.dispose();
      throw error;
    }
    this.#reactor = reactor;
    try {
      options.configureListener?.(() => this.listenerFd);
    } catch (error) {
      this.#listener.close();
      void reactor?.close();
      this.#policy.dispose();
      throw error;
    }
    const gate = options.acceptGate;
    if (gate) {
      this.#policy.setStalled(gate.stallAccept);
      this.#ungate = gate.onChange(() =>
        this.#policy.setStalled(gate.stallAccept)
      );
    }
    this.#done = this.#acceptLoop();
  }

  /** The address actually bound (port 0 resolved). */
  override get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** The listening socket's fd (found through `ffi/` for Deno's listener). */
  get listenerFd(): number {
    return this.#listener instanceof FdListener
      ? this.#listener.fd
      : socketFdOf(this.#listener);
  }

  /** The policy the engine reports to. */
  protected get policy(): ListenerPolicy<TrackedConn> {
    return this.#policy;
  }

  /** Resolves once the server has stopped and every connection is closed. */
  override get finished(): Promise<void> {
    return this.#done;
  }

  async #acceptLoop(): Promise<void> {
    const policy = this.#policy;
    while (!this.#closing && policy.listening) {
      if (!policy.accepting) {
        await new Promise<void>((resolve) => this.#resume = resolve);
        continue;
      }
      let conn: StreamConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (
          this.#closing || !policy.listening ||
          error instanceof Deno.errors.BadResource
        ) break;
        policy.acceptFailed(error);
        continue;
      }
      // accept() was already waiting when the hold began.
      if (!policy.accepting) this.#held.push(conn);
      else this.#admit(conn);
    }
    // Retired: the connections finish on their own, without a drain.
    if (!this.#closing) {
      await Promise.race([this.#allDone(), this.#shutdownAsked.promise]);
    }
    await this.#drainConnections();
  }

  #admit(conn: StreamConn): void {
    const policy = this.#policy;
    const resetOnClose = policy.resetOnClose;
    if (policy.refuses(() => formatAddr(conn.remoteAddr))) {
      const refused = new ServerConn(conn, 0, { resetOnClose });
      const closing = refused.closeWithMessage(policy.refusalMessage);
      this.#refusing.add(closing);
      closing.finally(() => this.#refusing.delete(closing));
      return;
    }
    const serverConn = new ServerConn(conn, policy.nextId(), { resetOnClose });
    policy.opened(serverConn);
    try {
      this.#configure?.(conn);
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
      this.#policy.closed(conn);
    }
  }

  /** Settles when every connection open now (and every refusal) is done. */
  #allDone(): Promise<unknown> {
    return Promise.allSettled([
      ...[...this.#policy.conns].map((c) => c.done),
      ...this.#refusing,
    ]);
  }

  #closeListener(): void {
    this.#policy.stopListening();
    this.#resume?.();
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
  override shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#shutdownAsked.resolve();
      this.#closeListener();
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
    const conns = this.#policy.conns;
    for (const conn of conns) conn.drain();
    const deadline = Promise.withResolvers<void>();
    this.#policy.startDrain(() => deadline.resolve());
    // No connection can be added: the accept loop has ended.
    await Promise.race([this.#allDone(), deadline.promise]);
    for (const conn of conns) conn.closeByServer();
    await this.#allDone();
    this.#policy.dispose();
    this.#ungate?.();
    await this.#reactor?.close();
  }
}
