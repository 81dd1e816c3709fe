/**
 * The implementation of {@linkcode TakeoverConn}: an fd-owned, non-blocking
 * TCP connection served through the reactor, with its unconsumed input,
 * queued output and state, able to stop and restart for a handover.
 *
 * @module
 */

import { formatHostPort } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import {
  closeFd,
  constants,
  type Reactor,
  readSocket,
  sendSocket,
} from "../ffi/mod.ts";
import type { ConnectionRecord, JsonValue } from "./protocol.ts";
import { toBase64 } from "./protocol.ts";
import type {
  CloseReason,
  ConnectionHandler,
  TakeoverConn,
} from "./takeover_conn.ts";

const { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP } = constants;
const log = tcpkitLogger("takeover");

/** What a connection needs from its server. */
export interface ConnHost {
  readonly reactor: Reactor;
  readonly handler: ConnectionHandler;
  /** A shared scratch buffer for reads. */
  readonly readBuffer: Uint8Array;
  readonly maxUnreadBytes: number;
  readonly maxUnsentBytes: number;
  /** Whether the server is paused for a handover: no watching then. */
  readonly paused: boolean;
  /** The connection has closed (not for a release). */
  connClosed(conn: ServedConn, reason: CloseReason): void;
  /** The last in-flight reply of a connection ended. */
  replyDone(): void;
  /** A handler threw. */
  handlerFailed(conn: ServedConn, error: unknown): void;
}

/** A record of one connection, with its fd, for a handover. */
export interface ConnSnapshot {
  readonly record: ConnectionRecord;
  readonly fd: number;
}

/** One served connection. */
export class ServedConn implements TakeoverConn {
  readonly id: number;
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  state: JsonValue = null;
  readonly #fd: number;
  readonly #cookie: string;
  readonly #host: ConnHost;
  #unread: Uint8Array | null = null;
  readonly #unsent: Uint8Array[] = [];
  #unsentBytes = 0;
  // Set once the unsent bytes pass maxUnsentBytes, cleared once half of
  // that is sent: no reading meanwhile, and handlers see `outputFull`.
  #readBlocked = false;
  // Inside the handler's onData: no nested call with the same input.
  #consuming = false;
  // The debug line for this blocked stretch is still to be logged.
  #blockToLog = false;
  #closing = false;
  #closeReason: CloseReason = "closed";
  #closed = false;
  #busy = 0;
  #watchedEvents = -1;
  // Set once the handover has described this connection: writes made after
  // that wait here (for a rollback) instead of reaching the socket out of
  // order with the unsent bytes already described.
  #described = false;
  readonly #late: Uint8Array[] = [];

  constructor(
    host: ConnHost,
    fd: number,
    id: number,
    localAddr: Deno.NetAddr,
    remoteAddr: Deno.NetAddr,
    cookie: string,
  ) {
    this.#host = host;
    this.#fd = fd;
    this.#cookie = cookie;
    this.id = id;
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
  }

  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#closed || this.#closing;
  }

  get unsentBytes(): number {
    return this.#unsentBytes;
  }

  get outputFull(): boolean {
    return this.#readBlocked;
  }

  /** In-flight replies (see beginReply). */
  get busy(): number {
    return this.#busy;
  }

  /**
   * Starts serving: restores what a previous process left, watches the fd,
   * tells the handler, then sends the unsent output and processes the
   * unread input.
   */
  start(
    restored: boolean,
    from?: { unread: Uint8Array; unsent: Uint8Array; closing: boolean },
  ): void {
    if (from !== undefined && from.unsent.length > 0) {
      this.#unsent.push(from.unsent);
      this.#unsentBytes = from.unsent.length;
      if (this.#unsentBytes > this.#host.maxUnsentBytes) this.#block();
    }
    this.watch();
    try {
      this.#host.handler.onOpen?.(this, restored);
    } catch (error) {
      this.#host.handlerFailed(this, error);
    }
    if (this.#closed) return;
    if (this.#unsentBytes > 0) this.#flush();
    if (from?.closing) {
      this.close();
      return;
    }
    if (from !== undefined && from.unread.length > 0 && !this.closed) {
      this.#consume(from.unread);
    }
  }

  /** Registers (or updates) the fd with the reactor for the current state. */
  watch(): void {
    if (this.#closed || this.#host.paused) return;
    const events = this.#closing
      ? EPOLLOUT
      : (this.#readBlocked ? 0 : EPOLLIN | EPOLLRDHUP) |
        (this.#unsentBytes > 0 ? EPOLLOUT : 0);
    if (events === this.#watchedEvents) return;
    if (this.#watchedEvents < 0) {
      this.#host.reactor.watch(
        this.#fd,
        events,
        (ready) => this.#onReady(ready),
      );
    } else {
      this.#host.reactor.setEvents(this.#fd, events);
    }
    this.#watchedEvents = events;
  }

  /** Stops watching the fd (a handover pause). */
  unwatch(): void {
    if (this.#watchedEvents < 0) return;
    this.#host.reactor.unwatch(this.#fd);
    this.#watchedEvents = -1;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#closing || bytes.length === 0) return;
    if (this.#described) {
      this.#late.push(bytes.slice());
      return;
    }
    let offset = 0;
    if (this.#unsentBytes === 0) {
      let sent: number | null;
      try {
        sent = sendSocket(this.#fd, bytes);
      } catch (error) {
        this.#fail(error);
        return;
      }
      offset = sent ?? 0;
      if (offset === bytes.length) return;
    }
    const rest = bytes.slice(offset);
    this.#unsent.push(rest);
    this.#unsentBytes += rest.length;
    if (this.#unsentBytes > this.#host.maxUnsentBytes) this.#block();
    this.watch();
  }

  close(): void {
    this.#closeWith("closed");
  }

  beginReply(): () => void {
    this.#busy++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#busy--;
      if (this.#busy === 0) {
        this.#host.replyDone();
        // Input that waited for this reply (a startloop's) would otherwise
        // wait for the client's next bytes. Not from inside the caller.
        queueMicrotask(() => this.#offerWaiting());
      }
    };
  }

  /**
   * Makes the handover record: tries once more to send what is queued, then
   * describes what is left.
   */
  snapshot(): ConnSnapshot {
    if (this.#unsentBytes > 0) this.#flush();
    this.#described = true;
    let unsent = "";
    if (this.#unsentBytes > 0) {
      const bytes = new Uint8Array(this.#unsentBytes);
      let offset = 0;
      for (const chunk of this.#unsent) {
        bytes.set(chunk, offset);
        offset += chunk.length;
      }
      unsent = toBase64(bytes);
    }
    return {
      fd: this.#fd,
      record: {
        id: this.id,
        local: formatHostPort(this.localAddr.hostname, this.localAddr.port),
        remote: formatHostPort(this.remoteAddr.hostname, this.remoteAddr.port),
        cookie: this.#cookie,
        unread: this.#unread === null ? "" : toBase64(this.#unread),
        unsent,
        state: this.state,
        closing: this.#closing,
      },
    };
  }

  /**
   * After a rollback: writes made since the description go out now, in
   * order, and reading resumes (once the server watches again).
   */
  thaw(): void {
    this.#described = false;
    for (const bytes of this.#late.splice(0)) this.write(bytes);
  }

  /**
   * After a rollback, once the server watches again: input that waited
   * (output full, or a reply in flight ended during the pause) is taken up.
   */
  resumeInput(): void {
    this.#offerWaiting();
  }

  /**
   * Drops our copy of the socket after a handover: `close()` only, no
   * shutdown, so the connection goes on in the new process. No callback.
   *
   * @returns Bytes written after the handover described the connection,
   * which the new process never got (0 unless the application writes
   * outside its handler without `beginReply()`).
   */
  release(): number {
    const lost = this.#late.reduce((sum, bytes) => sum + bytes.length, 0);
    this.#late.length = 0;
    if (this.#closed) return lost;
    this.unwatch();
    this.#closed = true;
    closeFd(this.#fd);
    return lost;
  }

  /** Closes at once, unsent output discarded (server shutdown). */
  destroy(reason: CloseReason): void {
    this.#finish(reason);
  }

  #onReady(events: number): void {
    if (
      (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) !== 0 && this.#unsentBytes > 0
    ) {
      this.#flush();
      if (this.#closed) return;
    }
    if (
      !this.#closing && !this.#readBlocked &&
      (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) !== 0
    ) {
      this.#read();
    }
  }

  #read(): void {
    const buffer = this.#host.readBuffer;
    let n: number | null;
    try {
      n = readSocket(this.#fd, buffer);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (n === null) return;
    if (n === 0) {
      this.#closeWith("eof");
      return;
    }
    const fresh = buffer.subarray(0, n);
    if (this.#unread === null) {
      this.#consume(fresh);
    } else {
      const joined = new Uint8Array(this.#unread.length + n);
      joined.set(this.#unread);
      joined.set(fresh, this.#unread.length);
      this.#unread = null;
      this.#consume(joined);
    }
  }

  #consume(data: Uint8Array): void {
    let consumed: number;
    this.#consuming = true;
    try {
      consumed = this.#host.handler.onData(this, data);
      if (
        !Number.isInteger(consumed) || consumed < 0 || consumed > data.length
      ) {
        throw new RangeError(
          `onData() returned ${consumed}: expected an integer from 0 to ${data.length}`,
        );
      }
    } catch (error) {
      this.#consuming = false;
      this.#host.handlerFailed(this, error);
      this.destroy("error");
      return;
    }
    this.#consuming = false;
    if (this.#closed) return;
    if (this.#blockToLog) this.#logBlock();
    if (consumed < data.length) {
      // A copy: `data` may be the shared read buffer.
      this.#unread = data.slice(consumed);
      // Input left while the output is full waits for it to drain (no
      // reading meanwhile, so it cannot grow): only input the handler
      // cannot take counts as overflow.
      if (
        !this.#readBlocked && this.#unread.length > this.#host.maxUnreadBytes
      ) {
        this.destroy("overflow");
      }
    } else {
      this.#unread = null;
    }
  }

  /**
   * Passes the unconsumed input to the handler again, with nothing new:
   * the client may have sent all it will until it gets its replies.
   */
  #offerWaiting(): void {
    if (
      this.#unread === null || this.#consuming || this.#closed ||
      this.#closing || this.#readBlocked || this.#described ||
      this.#host.paused
    ) {
      return;
    }
    this.#consume(this.#unread);
    // The handler may have changed what to watch for (EPOLLOUT).
    this.watch();
  }

  #block(): void {
    if (this.#readBlocked) return;
    this.#readBlocked = true;
    // Logged after the handler's call, with what it queued in all.
    this.#blockToLog = true;
    if (!this.#consuming) this.#logBlock();
  }

  #logBlock(): void {
    this.#blockToLog = false;
    log.debug(
      "connection {id}: {unsent} bytes not yet sent; reading paused until half of {max} are sent",
      {
        id: this.id,
        unsent: this.#unsentBytes,
        max: this.#host.maxUnsentBytes,
      },
    );
  }

  #flush(): void {
    while (this.#unsent.length > 0) {
      const chunk = this.#unsent[0]!;
      let sent: number | null;
      try {
        sent = sendSocket(this.#fd, chunk);
      } catch (error) {
        this.#fail(error);
        return;
      }
      if (sent === null) break;
      this.#unsentBytes -= sent;
      if (sent === chunk.length) this.#unsent.shift();
      else {
        this.#unsent[0] = chunk.subarray(sent);
        break;
      }
    }
    let unblocked = false;
    if (
      this.#readBlocked && this.#unsentBytes <= this.#host.maxUnsentBytes / 2
    ) {
      this.#readBlocked = false;
      unblocked = true;
    }
    if (this.#closing && this.#unsentBytes === 0) {
      this.#finish(this.#closeReason);
      return;
    }
    this.watch();
    // Lines left when the output filled up wait in #unread: without this
    // a client that sent everything and now reads would wait for ever.
    if (unblocked) this.#offerWaiting();
  }

  #closeWith(reason: CloseReason): void {
    if (this.#closed || this.#closing) return;
    if (this.#unsentBytes > 0) {
      this.#closing = true;
      this.#closeReason = reason;
      this.watch();
      return;
    }
    this.#finish(reason);
  }

  #fail(error: unknown): void {
    this.#finish(
      error instanceof Deno.errors.ConnectionReset ||
        error instanceof Deno.errors.BrokenPipe
        ? "reset"
        : "error",
    );
  }

  #finish(reason: CloseReason): void {
    if (this.#closed) return;
    this.unwatch();
    this.#closed = true;
    this.#closing = false;
    this.#unsent.length = 0;
    this.#unsentBytes = 0;
    this.#unread = null;
    // The only reference left: the kernel sends the FIN (or an RST when
    // input is left unread).
    closeFd(this.#fd);
    this.#host.connClosed(this, reason);
  }
}
