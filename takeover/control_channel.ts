/**
 * One end of a takeover control connection: frames with fds over a
 * non-blocking Unix stream socket, driven by a {@linkcode Reactor}.
 *
 * @module
 */

import { constants, type Reactor } from "../ffi/mod.ts";
import {
  decodeFrameHeader,
  decodeMessage,
  encodeFrame,
  FRAME_HEADER_BYTES,
  MAX_FDS_PER_FRAME,
  MAX_FRAME_BYTES,
  type TakeoverMessage,
} from "./protocol.ts";
import {
  TakeoverAbortedError,
  type TakeoverError,
  TakeoverProtocolError,
} from "./takeover_error.ts";
import type { TakeoverEnv } from "./takeover_env.ts";

/** A received message and the fds that came with it (now the caller's). */
export interface Frame {
  /** The message. */
  message: TakeoverMessage;
  /** The fds its frame carried, in order. */
  fds: number[];
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** The buffer kept between frames, and the most read per call, in bytes. */
const RECEIVE_CHUNK = 1 << 16;

/** Options of a {@linkcode ControlChannel}. */
export interface ControlChannelOptions {
  /**
   * The largest payload accepted from the peer, in bytes: a larger frame is
   * refused as soon as its header arrives, before its payload is read.
   * @default {MAX_FRAME_BYTES}
   */
  maxFrameBytes?: number;
}
const { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP } = constants;

/**
 * Sends and receives protocol frames on a connected Unix socket. It owns the
 * fd and any received fds not yet handed out with a frame; the fds of a
 * returned {@linkcode Frame} belong to the caller.
 *
 * {@linkcode ControlChannel.abort} makes every pending and later call reject
 * with the given error: that is how timeouts end a handover.
 */
export class ControlChannel {
  readonly #fd: number;
  readonly #reactor: Reactor;
  readonly #env: TakeoverEnv;
  readonly #peer: string;
  readonly #maxFrameBytes: number;
  readonly #baseSize: number;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  readonly #fds: number[] = [];
  #eof = false;
  #error: Error | undefined;
  #readWaiter: Waiter | undefined;
  #writeWaiter: Waiter | undefined;
  #closed = false;

  /**
   * Wraps a connected, non-blocking Unix socket; it is watched only while a
   * call waits on it.
   *
   * @param fd The socket; the channel owns it from now on.
   * @param reactor The reactor that reports its readiness.
   * @param env The OS seam.
   * @param peer Who is at the other end, for messages ("pid 42").
   * @param options The frame size limit.
   */
  constructor(
    fd: number,
    reactor: Reactor,
    env: TakeoverEnv,
    peer: string,
    options: ControlChannelOptions = {},
  ) {
    this.#fd = fd;
    this.#reactor = reactor;
    this.#env = env;
    this.#peer = peer;
    this.#maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.#baseSize = Math.min(
      RECEIVE_CHUNK,
      FRAME_HEADER_BYTES + this.#maxFrameBytes,
    );
    this.#buffer = new Uint8Array(this.#baseSize);
  }

  /** The receive buffer's size now, in bytes (tests check it shrinks back). */
  get bufferSize(): number {
    return this.#buffer.length;
  }

  /** The socket's fd. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Sends one message; `fds` go with its first bytes.
   *
   * @param message The message.
   * @param fds At most 253 fds; they stay open here too.
   * @returns Resolves once the whole frame is in the socket.
   * @throws {TakeoverAbortedError} When the peer has gone.
   * @throws {TakeoverError} The error given to {@linkcode ControlChannel.abort}.
   */
  async send(
    message: TakeoverMessage,
    fds: readonly number[] = [],
  ): Promise<void> {
    const frame = encodeFrame(message, fds.length);
    let offset = 0;
    while (offset < frame.length) {
      this.#throwIfStopped();
      let sent: number | null;
      try {
        sent = this.#env.send(
          this.#fd,
          frame.subarray(offset),
          offset === 0 ? fds : [],
        );
      } catch (error) {
        throw this.#gone(`sending ${message.type}`, error);
      }
      if (sent === null) {
        await this.#wait("write");
        continue;
      }
      offset += sent;
    }
  }

  /**
   * Receives the next message.
   *
   * @returns The message and its fds.
   * @throws {TakeoverAbortedError} When the peer closes or resets the connection.
   * @throws {TakeoverProtocolError} For a malformed frame or missing fds.
   * @throws {TakeoverError} The error given to {@linkcode ControlChannel.abort}.
   */
  async receive(): Promise<Frame> {
    while (true) {
      this.#throwIfStopped();
      const frame = this.#parse();
      if (frame !== null) return frame;
      if (this.#eof) {
        throw new TakeoverAbortedError(
          `The control connection was closed by ${this.#peer}`,
        );
      }
      let got;
      try {
        got = this.#env.receive(this.#fd, this.#room());
      } catch (error) {
        throw this.#gone("receiving", error);
      }
      if (got === null) {
        await this.#wait("read");
        continue;
      }
      this.#fds.push(...got.fds);
      // At most a frame's worth waits for its frame, and the next frame's.
      if (this.#fds.length > 2 * MAX_FDS_PER_FRAME) {
        throw new TakeoverProtocolError(
          `${this.#peer} sent ${this.#fds.length} fds that no frame announced`,
        );
      }
      if (got.bytes === 0) {
        this.#eof = true;
        continue;
      }
      this.#end += got.bytes;
    }
  }

  /**
   * Closes an fd that came with a frame and is not wanted.
   *
   * @param fd The fd.
   */
  closeReceived(fd: number): void {
    this.#env.close(fd);
  }

  /**
   * Ends every pending and later call with `error`.
   *
   * @param error Usually a {@linkcode TakeoverTimeoutError}.
   */
  abort(error: Error): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    this.#wakeAll(error);
  }

  /**
   * Stops watching and closes the socket and any received fds not handed
   * out. Safe to call more than once.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reactor.unwatch(this.#fd);
    this.#env.close(this.#fd);
    for (const fd of this.#fds.splice(0)) this.#env.close(fd);
    this.abort(
      new TakeoverAbortedError(
        `The control connection to ${this.#peer} is closed`,
      ),
    );
  }

  /** Calls {@linkcode ControlChannel.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #throwIfStopped(): void {
    if (this.#error !== undefined) throw this.#error;
  }

  #gone(what: string, cause: unknown): TakeoverError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new TakeoverAbortedError(
      `Lost the control connection to ${this.#peer} while ${what}: ${detail}`,
      { cause },
    );
  }

  #parse(): Frame | null {
    const available = this.#end - this.#start;
    if (available < FRAME_HEADER_BYTES) return null;
    const view = this.#buffer.subarray(this.#start, this.#end);
    let header;
    try {
      header = decodeFrameHeader(view, this.#maxFrameBytes);
    } catch (error) {
      throw new TakeoverProtocolError(
        `Bad frame from ${this.#peer}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (available < FRAME_HEADER_BYTES + header.length) return null;
    let message: TakeoverMessage;
    try {
      message = decodeMessage(
        view.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + header.length),
      );
    } catch (error) {
      throw new TakeoverProtocolError(
        `Bad message from ${this.#peer}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (this.#fds.length < header.fdCount) {
      throw new TakeoverProtocolError(
        `A ${message.type} frame from ${this.#peer} announced ${header.fdCount} fds but ${this.#fds.length} arrived`,
      );
    }
    this.#start += FRAME_HEADER_BYTES + header.length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    // A large frame is gone: give its memory back rather than keep it.
    const kept = this.#end - this.#start;
    if (this.#buffer.length > this.#baseSize && kept <= this.#baseSize) {
      const small = new Uint8Array(this.#baseSize);
      small.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = small;
      this.#start = 0;
      this.#end = kept;
    }
    return { message, fds: this.#fds.splice(0, header.fdCount) };
  }

  /**
   * The free end of the buffer, made big enough for the frame under way
   * (its size is known once its header is, and was checked by #parse) and
   * never bigger: a peer cannot make us hold more than one frame.
   */
  #room(): Uint8Array {
    const kept = this.#end - this.#start;
    let frameSize = FRAME_HEADER_BYTES;
    if (kept >= FRAME_HEADER_BYTES) {
      const view = new DataView(
        this.#buffer.buffer,
        this.#buffer.byteOffset + this.#start,
        FRAME_HEADER_BYTES,
      );
      frameSize += view.getUint32(0);
    }
    const wanted = Math.max(this.#baseSize, frameSize);
    if (this.#buffer.length < wanted) {
      const grown = new Uint8Array(wanted);
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = grown;
      this.#start = 0;
      this.#end = kept;
    } else if (this.#start + frameSize > this.#buffer.length) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = kept;
    }
    return this.#buffer.subarray(this.#end);
  }

  #wait(kind: "read" | "write"): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    if (kind === "read") this.#readWaiter = { resolve, reject };
    else this.#writeWaiter = { resolve, reject };
    this.#updateInterest();
    return promise;
  }

  // Watch only while someone waits: level-triggered readiness nobody
  // consumes would make the reactor spin.
  #updateInterest(): void {
    if (this.#closed) return;
    const events = (this.#readWaiter === undefined ? 0 : EPOLLIN | EPOLLRDHUP) |
      (this.#writeWaiter === undefined ? 0 : EPOLLOUT);
    if (events === 0) {
      this.#reactor.unwatch(this.#fd);
    } else {
      this.#reactor.watch(this.#fd, events, (ready) => this.#onReady(ready));
    }
  }

  #onReady(events: number): void {
    const failed = (events & (EPOLLERR | EPOLLHUP)) !== 0;
    const read = this.#readWaiter;
    const write = this.#writeWaiter;
    if (
      read !== undefined && (failed || (events & (EPOLLIN | EPOLLRDHUP)) !== 0)
    ) {
      this.#readWaiter = undefined;
      read.resolve();
    }
    if (write !== undefined && (failed || (events & EPOLLOUT) !== 0)) {
      this.#writeWaiter = undefined;
      write.resolve();
    }
    this.#updateInterest();
  }

  #wakeAll(error: Error): void {
    const waiters = [this.#readWaiter, this.#writeWaiter];
    this.#readWaiter = this.#writeWaiter = undefined;
    for (const waiter of waiters) waiter?.reject(error);
  }
}
