/**
 * A connection or a listener owned by a raw fd, with the promise API of
 * `Deno.Conn` and `Deno.Listener`, on a thread-pool {@linkcode Reactor}. It
 * lets the `Deno.listen` engine serve a listening socket it did not open,
 * systemd's above all: `Deno.listen` cannot adopt an fd (its `fd` option is
 * silently ignored, and it listens elsewhere).
 */
import {
  acceptSocket,
  closeFd,
  constants,
  formatIp,
  getPeerName,
  getSockName,
  type Reactor,
  readSocket,
  sendSocket,
  setLinger,
  shutdownSocket,
  type SocketAddress,
} from "../ffi/mod.ts";

const { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, SHUT_WR } = constants;

/** What the listener machinery uses of a connection: `Deno.TcpConn` is one. */
export interface StreamConn {
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** This end's address. */
  readonly localAddr: Deno.NetAddr;
  /** Reads like `Deno.Conn.read`: `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`, like `Deno.Conn.write`. */
  write(p: Uint8Array): Promise<number>;
  /** Sends a FIN; reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes; a pending read or write fails. */
  close(): void;
}

function toNetAddr(address: SocketAddress): Deno.NetAddr {
  return {
    transport: "tcp",
    hostname: formatIp(address.address),
    port: address.port,
  };
}

/**
 * Readiness waits on one fd: the fd is watched only while someone waits, so
 * a hung-up socket nobody reads cannot make the reactor spin.
 */
class FdWaits {
  readonly #fd: number;
  readonly #reactor: Reactor;
  #reader: PromiseWithResolvers<void> | undefined;
  #writer: PromiseWithResolvers<void> | undefined;

  constructor(fd: number, reactor: Reactor) {
    this.#fd = fd;
    this.#reactor = reactor;
  }

  readable(): Promise<void> {
    this.#reader ??= Promise.withResolvers<void>();
    this.#rearm();
    return this.#reader.promise;
  }

  writable(): Promise<void> {
    this.#writer ??= Promise.withResolvers<void>();
    this.#rearm();
    return this.#writer.promise;
  }

  /** Fails every wait (the fd is being closed) and stops watching. */
  fail(error: Error): void {
    this.#reactor.unwatch(this.#fd);
    this.#reader?.reject(error);
    this.#writer?.reject(error);
    this.#reader = this.#writer = undefined;
  }

  #rearm(): void {
    const events = (this.#reader ? EPOLLIN : 0) |
      (this.#writer ? EPOLLOUT : 0);
    if (events === 0) this.#reactor.unwatch(this.#fd);
    else if (this.#reactor.isWatching(this.#fd)) {
      this.#reactor.setEvents(this.#fd, events);
    } else this.#reactor.watch(this.#fd, events, (e) => this.#ready(e));
  }

  #ready(events: number): void {
    // An error or hang-up wakes both: the next call says what happened.
    const broken = (events & (EPOLLERR | EPOLLHUP)) !== 0;
    if (this.#reader && (broken || events & EPOLLIN)) {
      this.#reader.resolve();
      this.#reader = undefined;
    }
    if (this.#writer && (broken || events & EPOLLOUT)) {
      this.#writer.resolve();
      this.#writer = undefined;
    }
    this.#rearm();
  }
}

/** A connected TCP socket owned by its fd. */
export class FdConn implements StreamConn {
  /** The socket's fd (owned: closed by `close`). */
  readonly fd: number;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** This end's address. */
  readonly localAddr: Deno.NetAddr;
  readonly #waits: FdWaits;
  #closed = false;

  /**
   * Takes a connected, non-blocking socket.
   *
   * @throws {Deno.errors.NotConnected} When the socket has no peer (it was
   * reset before this).
   */
  constructor(fd: number, reactor: Reactor) {
    const local = getSockName(fd);
    const remote = getPeerName(fd);
    if (local === null || remote === null) {
      throw new Deno.errors.NotConnected(`fd ${fd} has no peer`);
    }
    this.fd = fd;
    this.localAddr = toNetAddr(local);
    this.remoteAddr = toNetAddr(remote);
    this.#waits = new FdWaits(fd, reactor);
  }

  /** Reads like `Deno.Conn.read`: `null` at end of stream. */
  async read(p: Uint8Array): Promise<number | null> {
    if (p.length === 0) return 0;
    while (true) {
      this.#assertOpen();
      const n = readSocket(this.fd, p);
      if (n !== null) return n === 0 ? null : n;
      await this.#waits.readable();
    }
  }

  /** Writes some of `p` (at least one byte), like `Deno.Conn.write`. */
  async write(p: Uint8Array): Promise<number> {
    if (p.length === 0) return 0;
    while (true) {
      this.#assertOpen();
      const n = sendSocket(this.fd, p);
      if (n !== null && n > 0) return n;
      await this.#waits.writable();
    }
  }

  /**
   * Sends a FIN; reading goes on. Fails (as a rejected promise, like
   * Deno's) when the connection is closed or reset.
   */
  // deno-lint-ignore require-await -- async so that errors reject, never throw
  async closeWrite(): Promise<void> {
    this.#assertOpen();
    shutdownSocket(this.fd, SHUT_WR);
  }

  /** Closes with an RST (SO_LINGER {1, 0}). Safe to call twice. */
  closeWithReset(): void {
    if (this.#closed) return;
    try {
      setLinger(this.fd, { enabled: true, seconds: 0 });
    } catch {
      // Gone already: a plain close is all that is left.
    }
    this.close();
  }

  /** Closes; a pending read or write fails with BadResource. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waits.fail(new Deno.errors.BadResource("The connection is closed"));
    closeFd(this.fd);
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource("The connection is closed");
    }
  }
}

/** A listening TCP socket owned by its fd, accepting {@linkcode FdConn}s. */
export class FdListener {
  /** The listening socket's fd (owned: closed by `close`). */
  readonly fd: number;
  /** The address it is bound to. */
  readonly addr: Deno.NetAddr;
  readonly #reactor: Reactor;
  readonly #waits: FdWaits;
  #closed = false;

  /**
   * Takes a listening socket (made non-blocking by the caller) and the
   * reactor its connections will use.
   *
   * @throws {TypeError} When `fd` is not a bound socket.
   */
  constructor(fd: number, reactor: Reactor) {
    const local = getSockName(fd);
    if (local === null) {
      throw new TypeError(`fd ${fd} is not a bound socket: cannot serve it`);
    }
    this.fd = fd;
    this.addr = toNetAddr(local);
    this.#reactor = reactor;
    this.#waits = new FdWaits(fd, reactor);
  }

  /**
   * The next connection, like `Deno.Listener.accept`: one reset while it
   * waited fails with NotConnected, as Deno's accept does.
   *
   * @throws {Deno.errors.BadResource} Once closed.
   * @throws {ErrnoError} When accepting fails (EMFILE…).
   */
  async accept(): Promise<FdConn> {
    while (true) {
      if (this.#closed) {
        throw new Deno.errors.BadResource("The listener is closed");
      }
      const fd = acceptSocket(this.fd);
      if (fd !== null) {
        try {
          return new FdConn(fd, this.#reactor);
        } catch (error) {
          closeFd(fd);
          throw error;
        }
      }
      await this.#waits.readable();
    }
  }

  /** Closes the listening socket; a pending accept fails. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waits.fail(new Deno.errors.BadResource("The listener is closed"));
    closeFd(this.fd);
  }
}
