/**
 * The echo service on raw sockets and an inline epoll reactor: tcpservd
 * `--echo`'s default engine. Each message costs one `epoll_wait()`, one
 * `read()` and one `send()` made straight from JavaScript, with no promise
 * and no turn of Deno's event loop, and a connection holds no buffer of its
 * own unless its peer stops reading.
 */
import { formatHostPort } from "../common/mod.ts";
import {
  acceptSocket,
  closeFd,
  constants,
  EAGAIN,
  EINTR,
  errnoCode,
  formatIp,
  getPeerName,
  getSockName,
  listenTcp,
  parseIp,
  Reactor,
  setLinger,
  shutdownSocket,
  type SocketAddress,
  tryRead,
  trySend,
} from "../ffi/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import {
  applySocketOptions,
  type ListenerSocketOptions,
} from "../net/listener_options.ts";
import { PolicedServer } from "../net/policed_server.ts";
import {
  IDLE_MESSAGE,
  type ListenerLimits,
  ListenerPolicy,
  type TrackedConn,
} from "../net/listener_policy.ts";

const log = tcpkitLogger("server");
const { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, SHUT_WR } = constants;
const encoder = new TextEncoder();
const IDLE_BYTES = encoder.encode(IDLE_MESSAGE);
// Accepts per readiness event, so a connect flood cannot starve the clients.
const ACCEPTS_PER_EVENT = 64;

/** Options of {@linkcode EpollEchoServer}. */
export interface EpollEchoServerOptions
  extends ListenerLimits, ListenerSocketOptions {
  /**
   * Where to listen: an IP literal (`::` is dual-stack) or a name, which is
   * resolved as `Deno.listen` resolves it (`/etc/hosts`, then DNS).
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** Listen queue length. @default {511} */
  backlog?: number;
  /** Set SO_REUSEPORT. @default {false} */
  reusePort?: boolean;
  /**
   * Serve this listening TCP socket (systemd's, see
   * `net/socket_activation.ts`; non-blocking) instead of listening:
   * `hostname`, `port`, `backlog` and `reusePort` are then ignored. The
   * server owns it and closes it.
   */
  listenFd?: number;
  /** The one read buffer, shared by every connection, in bytes. @default {65536} */
  bufferSize?: number;
  /**
   * Most ms Deno's own timers may wait (see `ReactorOptions.waitTimeoutMs`).
   * Each wait that ends this way costs a turn of Deno's event loop, so an
   * idle server spent about 6 ms of CPU per second at 50, under 1 at 250.
   * @default {250}
   */
  timerSlackMs?: number;
}

interface EchoConn {
  readonly fd: number;
  readonly id: number;
  /** Echo bytes the peer has not taken yet; while set, reading stops. */
  pending: Uint8Array | null;
  /** Close once `pending` is sent: the peer sent EOF, or a drain asked. */
  closeAfterFlush: boolean;
  /** Reads so far: the idle sweep's activity. */
  activity: number;
  /** When `pending` was set (ms): a peer that stops reading shows here. */
  writingSince: number | undefined;
  readonly busy: false;
  readonly closed: false;
  idleSeen: number;
  idleSince: number;
}

/**
 * A byte-transparent echo server on a raw listening socket, driven by an
 * inline {@linkcode Reactor}: the JavaScript thread waits in `epoll_wait()`
 * itself, and gives Deno's event loop a turn when Deno has I/O of its own
 * (signals, pipes) or a timer may be due.
 *
 * Same limits and policies as {@linkcode TcpServer} with the echo handler:
 * `maxConns` (refuse or pause), `maxTotalConns`, the idle timeout with its
 * message, `resetOnClose`, and a drain that lets each connection send what
 * it already read, then closes it with a FIN (or an RST). A peer that stops
 * reading makes the server stop reading from it (one pending chunk at
 * most), so memory stays bounded.
 *
 * It owns the JavaScript thread while it runs (one per process or worker:
 * a second one on the same thread is refused), and Deno timers may fire up
 * to `timerSlackMs` late.
 *
 * @example
 * ```ts ignore
 * import { EpollEchoServer } from "./epoll_echo_server.ts";
 * const server = new EpollEchoServer({ hostname: "127.0.0.1", port: 0 });
 * console.log(server.addr.port);
 * await server.shutdown();
 * ```
 */
export class EpollEchoServer extends PolicedServer {
  readonly #listenFd: number;
  readonly #addr: Deno.NetAddr;
  readonly #reactor: Reactor;
  readonly #buffer: Uint8Array;
  readonly #conns = new Map<number, EchoConn>();
  readonly #policy: ListenerPolicy<EchoConn>;
  readonly #refusal: Uint8Array;
  readonly #done = Promise.withResolvers<void>();
  #listening = true;
  #accepting = true;
  #closing = false;
  #finishing = false;

  /**
   * Listens at once (so `addr` is known) and starts accepting.
   *
   * @throws {Error} When `hostname` is a name that does not resolve.
   * @throws {RangeError} When a number is out of range.
   * @throws {Deno.errors.AddrInUse} When the address is taken.
   * @throws {ErrnoError} When a socket call fails (EMFILE, EACCES).
   * @throws {Error} When another inline reactor (another EpollEchoServer)
   * runs on this thread.
   */
  constructor(options: EpollEchoServerOptions = {}) {
    super();
    const bufferSize = options.bufferSize ?? 65536;
    if (
      !Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > 1 << 24
    ) {
      throw new RangeError(
        `Invalid bufferSize: expected an integer from 1 to 16777216, got ${bufferSize}`,
      );
    }
    this.#buffer = new Uint8Array(bufferSize);
    // The policy first: it checks the limits before anything is opened.
    this.#policy = new ListenerPolicy<EchoConn>(options, {
      setAccepting: (on) => this.#setAccepting(on),
      retire: () => this.#stopListening(),
      closeIdle: (conn) => {
        // Best effort: a peer that reads nothing does not get to hold us.
        trySend(conn.fd, IDLE_BYTES);
        this.#close(conn, true);
      },
      resetStalled: (conn) => this.#close(conn, true, true),
      peer: (conn) => peerOf(conn.fd),
    });
    this.#refusal = encoder.encode(this.#policy.refusalMessage);
    let listener: ReturnType<typeof listenTcp>;
    try {
      listener = options.listenFd === undefined
        ? listenTcp({
          hostname: resolveHost(options.hostname ?? "0.0.0.0"),
          port: options.port ?? 0,
          backlog: options.backlog ?? 511,
          reusePort: options.reusePort ?? false,
        })
        : adoptedListener(options.listenFd);
    } catch (error) {
      this.#policy.dispose();
      throw error;
    }
    this.#listenFd = listener.fd;
    this.#addr = {
      transport: "tcp",
      hostname: formatIp(listener.address.address),
      port: listener.address.port,
    };
    try {
      const applied = applySocketOptions(listener.fd, options);
      if (Object.keys(applied).length > 0) {
        log.debug("listener socket options (getsockopt): {applied}", {
          applied,
        });
      }
      this.#reactor = Reactor.create({
        wait: "inline",
        waitTimeoutMs: options.timerSlackMs ?? 250,
        onError: (error, fd) =>
          log.error("echo engine: handler for fd {fd} failed: {error}", {
            fd,
            error: String(error),
          }),
      });
    } catch (error) {
      closeFd(listener.fd);
      this.#policy.dispose();
      throw error;
    }
    this.#reactor.watch(this.#listenFd, EPOLLIN, () => this.#acceptSome());
  }

  /** The address actually bound (port 0 resolved). */
  override get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** The listening socket's fd (owned by the server). */
  get listenerFd(): number {
    return this.#listenFd;
  }

  /** Connections whose peer is not taking its echo: reading from them has stopped. */
  get blockedCount(): number {
    let count = 0;
    for (const conn of this.#conns.values()) if (conn.pending) count++;
    return count;
  }

  /** The policy the engine reports to. */
  protected get policy(): ListenerPolicy<TrackedConn> {
    return this.#policy;
  }

  /** Resolves once the server has stopped and every connection is closed. */
  override get finished(): Promise<void> {
    return this.#done.promise;
  }

  /**
   * Stops accepting, lets each connection send the echo it already read,
   * waits up to `drainTimeoutMs`, then closes what is left. Resolves when
   * everything is closed. Safe to call twice.
   */
  override shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#stopListening();
      for (const conn of [...this.#conns.values()]) {
        if (conn.pending) conn.closeAfterFlush = true;
        else this.#close(conn, true);
      }
      if (this.#conns.size > 0) {
        this.#policy.startDrain(() => {
          for (const conn of [...this.#conns.values()]) this.#close(conn, true);
        });
      }
      this.#finishIfDone();
    }
    return this.#done.promise;
  }

  #acceptSome(): void {
    for (let i = 0; i < ACCEPTS_PER_EVENT && this.#accepting; i++) {
      let fd: number | null;
      try {
        fd = acceptSocket(this.#listenFd);
      } catch (error) {
        // The policy skips a dead connection, or holds accepting a while.
        if (this.#policy.acceptFailed(error) === "next") continue;
        return;
      }
      if (fd === null) return;
      this.#admit(fd);
    }
  }

  #admit(fd: number): void {
    const policy = this.#policy;
    let peer: SocketAddress | null;
    try {
      peer = getPeerName(fd);
    } catch {
      peer = null;
    }
    if (peer === null) {
      // Reset while it waited in the backlog: skipped and not counted, as
      // the Deno.listen engine skips it (a port scanner retires neither).
      closeFd(fd);
      return;
    }
    // Only under "refuse": "pause" stopped accepting at the limit.
    if (
      policy.refuses(() => formatHostPort(formatIp(peer.address), peer.port))
    ) {
      if (this.#refusal.length > 0) trySend(fd, this.#refusal);
      this.#closeFd(fd, true);
      return;
    }
    const conn: EchoConn = {
      fd,
      id: policy.nextId(),
      pending: null,
      closeAfterFlush: false,
      activity: 0,
      writingSince: undefined,
      busy: false,
      closed: false,
      idleSeen: 0,
      idleSince: 0,
    };
    try {
      this.#reactor.watch(
        fd,
        EPOLLIN,
        (events) => this.#onEvents(conn, events),
      );
    } catch (error) {
      log.warn("cannot watch connection: {error}", { error: String(error) });
      closeFd(fd);
      return;
    }
    this.#conns.set(fd, conn);
    policy.opened(conn);
  }

  #onEvents(conn: EchoConn, events: number): void {
    if (conn.pending === null) this.#echo(conn, events);
    else this.#flush(conn, events);
  }

  /** Reads what the peer sent and sends it straight back. */
  #echo(conn: EchoConn, events: number): void {
    const buffer = this.#buffer;
    const got = tryRead(conn.fd, buffer);
    if (got <= 0) {
      if (got === 0) return this.#close(conn, false); // EOF: nothing pending
      const n = -got;
      // Nothing to read after all; an error or hang-up with it is final.
      if ((n === EAGAIN || n === EINTR) && !(events & (EPOLLERR | EPOLLHUP))) {
        return;
      }
      return this.#fail(conn, n, "read");
    }
    conn.activity++;
    const sent = trySend(conn.fd, buffer, got);
    if (sent === got) return;
    let offset = 0;
    if (sent < 0) {
      const n = -sent;
      if (n !== EAGAIN && n !== EINTR) return this.#fail(conn, n, "send");
    } else {
      offset = sent;
    }
    // The peer is not keeping up: keep the rest, stop reading until it is sent.
    conn.pending = buffer.slice(offset, got);
    conn.writingSince = performance.now();
    this.#reactor.setEvents(conn.fd, EPOLLOUT);
  }

  /** Sends what a slow peer has not taken yet. */
  #flush(conn: EchoConn, events: number): void {
    const pending = conn.pending!;
    const sent = trySend(conn.fd, pending);
    if (sent < 0) {
      const n = -sent;
      if ((n === EAGAIN || n === EINTR) && !(events & (EPOLLERR | EPOLLHUP))) {
        return;
      }
      return this.#fail(conn, n, "send");
    }
    if (sent < pending.length) {
      conn.pending = pending.subarray(sent);
      return;
    }
    conn.pending = null;
    conn.writingSince = undefined;
    if (conn.closeAfterFlush) return this.#close(conn, true);
    this.#reactor.setEvents(conn.fd, EPOLLIN);
  }

  /** Closes a connection whose read or send failed (a reset, mostly), saying why at debug level. */
  #fail(conn: EchoConn, n: number, call: string): void {
    log.debug("connection {id} ended: {call}: {error}", () => ({
      id: conn.id,
      call,
      error: errnoCode(n),
    }));
    this.#close(conn, false);
  }

  /**
   * Closes a connection; `byServer`: as the policy says (FIN, or RST with
   * `resetOnClose`); `reset`: with an RST whatever the policy.
   */
  #close(conn: EchoConn, byServer: boolean, reset = false): void {
    if (this.#conns.get(conn.fd) !== conn) return;
    this.#conns.delete(conn.fd);
    this.#reactor.unwatch(conn.fd);
    // While the fd is still ours: the policy's log line names the peer.
    this.#policy.closed(conn);
    this.#closeFd(conn.fd, byServer, reset);
    this.#finishIfDone();
  }

  #closeFd(fd: number, byServer: boolean, reset = false): void {
    if (byServer) {
      try {
        if (reset || this.#policy.resetOnClose) {
          setLinger(fd, { enabled: true, seconds: 0 });
        } // A FIN first, as Deno's close() does, even if input is unread.
        else shutdownSocket(fd, SHUT_WR);
      } catch {
        // The peer is gone already: closing is all that is left.
      }
    }
    closeFd(fd);
  }

  #setAccepting(on: boolean): void {
    if (!this.#listening || on === this.#accepting) return;
    this.#accepting = on;
    this.#reactor.setEvents(this.#listenFd, on ? EPOLLIN : 0);
  }

  #stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#accepting = false;
    this.#policy.stopListening();
    this.#reactor.unwatch(this.#listenFd);
    closeFd(this.#listenFd);
    this.#finishIfDone();
  }

  /** Ends the server once it no longer listens and every connection is gone. */
  #finishIfDone(): void {
    if (this.#finishing || this.#listening || this.#conns.size > 0) return;
    this.#finishing = true;
    this.#policy.dispose();
    this.#reactor.close().then(
      () => this.#done.resolve(),
      (error) => this.#done.reject(error),
    );
  }
}

/**
 * An IP literal as it is; a name resolved the way `Deno.listen` resolves it,
 * by letting Deno bind a throwaway listener to it on port 0.
 */
function resolveHost(hostname: string): string {
  try {
    parseIp(hostname);
    return hostname;
  } catch {
    // A name: ask Deno.
  }
  const probe = Deno.listen({ hostname, port: 0 });
  try {
    return probe.addr.hostname;
  } finally {
    probe.close();
  }
}

function peerOf(fd: number): string {
  try {
    const peer = getPeerName(fd);
    return peer === null
      ? "unknown"
      : formatHostPort(formatIp(peer.address), peer.port);
  } catch {
    return "unknown";
  }
}

/** An inherited listener as `listenTcp` describes its own. */
function adoptedListener(fd: number): { fd: number; address: SocketAddress } {
  const address = getSockName(fd);
  if (address === null) {
    throw new TypeError(`fd ${fd} is not a bound socket: cannot serve it`);
  }
  return { fd, address };
}
