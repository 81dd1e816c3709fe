/**
 * The old process's side of a handover: an owner-only Unix socket where a
 * new process may ask to take over, the peer check, and the handover itself
 * with its rollback.
 *
 * @module
 */

import { constants, type Reactor } from "../ffi/mod.ts";
import { ControlChannel } from "./control_channel.ts";
import {
  type ConnectionRecord,
  CONTROL_SOCKET_MODE,
  encodeFrame,
  type JsonValue,
  type ListenerRecord,
  MAX_FDS_PER_FRAME,
  TAKEOVER_PROTOCOL_VERSION,
} from "./protocol.ts";
import {
  TakeoverError,
  TakeoverProtocolError,
  TakeoverRefusedError,
  TakeoverTimeoutError,
} from "./takeover_error.ts";
import type { PeerIdentity, TakeoverEnv } from "./takeover_env.ts";

const { EPOLLIN } = constants;

/** One socket to hand over: its description and our fd. */
export interface SnapshotSocket<R> {
  /** The description sent along. */
  readonly record: R;
  /** Our fd; sent, and closed only after the commit. */
  readonly fd: number;
}

/** A connection to hand over, described only when its batch is sent. */
export interface PausedConnection {
  /** Our fd; sent, and closed only after the commit. */
  readonly fd: number;
  /**
   * Its record, made at the last moment (while earlier batches are on their
   * way); `null` if it closed meanwhile (it was closing and its last bytes
   * went out), when it is not sent.
   */
  describe(): ConnectionRecord | null;
}

/** Everything a handover sends. */
export interface HandoverSnapshot {
  /** Listening sockets, sent first. */
  readonly listeners: SnapshotSocket<ListenerRecord>[];
  /** Connections. */
  readonly connections: PausedConnection[];
  /** The next connection id. */
  readonly nextId: number;
  /** The application state. */
  readonly appState: JsonValue;
}

/** What a handover needs from the server it hands over. */
export interface HandoverSource {
  /** How many sockets there are now (a hint: more may come until the pause). */
  count(): { listeners: number; connections: number };
  /**
   * Steps 1 and 2: stops accepting, lets every reply in flight finish (until
   * `signal` aborts), stops reading, and describes what is left.
   */
  pause(signal: AbortSignal): Promise<HandoverSnapshot>;
  /** Rollback: serve everything again, as if nothing happened. */
  resume(): void;
  /** Step 4: close our copies of every socket, without a shutdown. */
  release(): void;
}

/** What happens to a takeover offer, for logs and tests. */
export type TakeoverEvent =
  | {
    /** A process of another user asked; it got a `refused` message. */
    type: "refused";
    path: string;
    peer: PeerIdentity;
    reason: string;
  }
  | {
    /** A process asked but went away or misbehaved before anything paused. */
    type: "abandoned";
    path: string;
    pid: number;
    error: TakeoverError;
  }
  | {
    /** The handover started: accepting and reading have stopped. */
    type: "handing-over";
    path: string;
    pid: number;
  }
  | {
    /** Committed: the new process serves; ours are closed. */
    type: "handed-over";
    path: string;
    pid: number;
    listeners: number;
    connections: number;
    /** Bytes read but not yet answered, over all connections. */
    unreadBytes: number;
    /** Reply bytes not yet taken by the kernel, over all connections. */
    unsentBytes: number;
    /** From the pause to the commit sent: the longest any client waited here. */
    pausedMs: number;
    /**
     * How the pause was spent: stopping (and finishing replies in flight),
     * describing and sending, waiting for the ack, committing; then closing
     * our copies (after the pause).
     */
    phasesMs: {
      stop: number;
      send: number;
      ack: number;
      commit: number;
      release: number;
    };
  }
  | {
    /** Failed after the pause: everything is served here again. */
    type: "rolled-back";
    path: string;
    pid: number;
    connections: number;
    pausedMs: number;
    error: TakeoverError;
  };

/** Options of a {@linkcode HandoverOffer}. */
export interface HandoverOfferOptions {
  /** From the pause to the ack, and for the hello, in ms. */
  timeoutMs: number;
  /** The OS seam. */
  env: TakeoverEnv;
  /** Told about every refusal, handover and rollback. */
  onEvent(event: TakeoverEvent): void;
  /** Called after a committed handover (the source is released). */
  onHandedOver(): void;
}

/**
 * Offers the sockets of a {@linkcode HandoverSource} on a Unix socket at
 * `path` (mode 0600), one takeover at a time; more askers wait in the
 * socket's queue. Only a peer with our effective uid, or root, is served
 * (`SO_PEERCRED`); others get a `refused` message and an event.
 */
export class HandoverOffer {
  readonly path: string;
  readonly #source: HandoverSource;
  readonly #reactor: Reactor;
  readonly #options: HandoverOfferOptions;
  readonly #listenFd: number;
  #busy = false;
  #closed = false;
  #handedOver = false;
  #current: Promise<void> | undefined;
  #abortCurrent: ((error: Error) => void) | undefined;

  /**
   * Creates the control socket at `path` (replacing any socket file there)
   * and starts accepting on it.
   *
   * @param path The control socket's path.
   * @param source The server to hand over.
   * @param reactor The reactor that drives the sockets.
   * @param options Timeout, env, callbacks.
   * @throws {ErrnoError} When the socket cannot be created.
   */
  constructor(
    path: string,
    source: HandoverSource,
    reactor: Reactor,
    options: HandoverOfferOptions,
  ) {
    this.path = path;
    this.#source = source;
    this.#reactor = reactor;
    this.#options = options;
    this.#listenFd = options.env.listenUnix(path, CONTROL_SOCKET_MODE);
    this.#watch();
  }

  /** Whether a handover is under way. */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Stops offering. A handover under way is aborted first (rolled back).
   * The socket file is removed unless a handover committed: then it is the
   * new process's.
   *
   * @returns Resolves once any handover under way has ended.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      await this.#current;
      return;
    }
    this.#closed = true;
    this.#abortCurrent?.(
      new TakeoverError("The offer was closed during the handover"),
    );
    await this.#current;
    this.#reactor.unwatch(this.#listenFd);
    this.#options.env.close(this.#listenFd);
    if (!this.#handedOver) {
      try {
        this.#options.env.unlink(this.path);
      } catch {
        // Gone already, or not ours to remove: nothing to clean.
      }
    }
  }

  #watch(): void {
    this.#reactor.watch(this.#listenFd, EPOLLIN, () => this.#onAcceptable());
  }

  #onAcceptable(): void {
    const { env } = this.#options;
    while (!this.#busy && !this.#closed) {
      let fd: number | null;
      try {
        fd = env.acceptUnix(this.#listenFd);
      } catch {
        return;
      }
      if (fd === null) return;
      let peer: PeerIdentity;
      try {
        peer = env.peerCredentials(fd);
      } catch {
        env.close(fd);
        continue;
      }
      const own = env.uid();
      if (peer.uid !== own && peer.uid !== 0) {
        const reason =
          `uid ${peer.uid} may not take over a process of uid ${own} (only the same user or root may)`;
        try {
          // A fresh socket's buffer is empty: this fits, or is dropped.
          env.send(fd, encodeFrame({ type: "refused", reason }), []);
        } catch {
          // The asker is gone already; the refusal stands.
        }
        env.close(fd);
        this.#options.onEvent({
          type: "refused",
          path: this.path,
          peer,
          reason,
        });
        continue;
      }
      this.#busy = true;
      // One at a time: others wait in the queue until this one ends.
      this.#reactor.unwatch(this.#listenFd);
      this.#current = this.#handle(fd, peer).finally(() => {
        this.#busy = false;
        this.#current = undefined;
        this.#abortCurrent = undefined;
        if (!this.#closed && !this.#handedOver) this.#watch();
      });
    }
  }

  async #handle(fd: number, peer: PeerIdentity): Promise<void> {
    const { env, timeoutMs } = this.#options;
    const channel = new ControlChannel(
      fd,
      this.#reactor,
      env,
      `pid ${peer.pid}`,
    );
    const controller = new AbortController();
    const abort = (error: Error) => {
      channel.abort(error);
      controller.abort(error);
    };
    this.#abortCurrent = abort;
    let timer = setTimeout(
      () =>
        abort(
          new TakeoverTimeoutError(
            `pid ${peer.pid} was not ready within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    let paused = false;
    let pausedAt = 0;
    let connections = 0;
    try {
      const { message, fds } = await channel.receive();
      for (const extra of fds) env.close(extra);
      if (message.type !== "hello") {
        throw new TakeoverProtocolError(
          `Expected hello from pid ${peer.pid}, got ${message.type}`,
        );
      }
      if (message.protocol !== TAKEOVER_PROTOCOL_VERSION) {
        const reason =
          `protocol ${message.protocol} is not ${TAKEOVER_PROTOCOL_VERSION}`;
        await channel.send({ type: "refused", reason });
        throw new TakeoverRefusedError(`Refused pid ${peer.pid}: ${reason}`);
      }
      // Tell the new process how many fds to make room for, and wait until
      // it has: nothing is paused yet.
      await channel.send({ type: "prepare", ...this.#source.count() });
      const ready = await channel.receive();
      for (const extra of ready.fds) env.close(extra);
      if (ready.message.type !== "ready") {
        throw new TakeoverProtocolError(
          `Expected ready from pid ${peer.pid}, got ${ready.message.type}`,
        );
      }
      // The handover proper; the clock restarts for it.
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          abort(
            new TakeoverTimeoutError(
              `pid ${peer.pid} did not acknowledge the handover within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      pausedAt = performance.now();
      paused = true;
      this.#options.onEvent({
        type: "handing-over",
        path: this.path,
        pid: peer.pid,
      });
      const snapshot = await this.#source.pause(controller.signal);
      const stoppedAt = performance.now();
      // Batches of at most 253 fds, listeners first; each connection is
      // described just before its batch goes, so the new process works on
      // one batch while the next is described.
      let batches = 0;
      let unreadBytes = 0;
      let unsentBytes = 0;
      const pending = snapshot.connections;
      let next = 0;
      let listenersLeft = [...snapshot.listeners];
      do {
        const listeners = listenersLeft.slice(0, MAX_FDS_PER_FRAME);
        listenersLeft = listenersLeft.slice(listeners.length);
        const conns: ConnectionRecord[] = [];
        const connFds: number[] = [];
        while (
          listeners.length + conns.length < MAX_FDS_PER_FRAME &&
          next < pending.length
        ) {
          const conn = pending[next++]!;
          const record = conn.describe();
          if (record === null) continue;
          conns.push(record);
          connFds.push(conn.fd);
          unreadBytes += base64Length(record.unread);
          unsentBytes += base64Length(record.unsent);
        }
        connections += conns.length;
        await channel.send(
          {
            type: "batch",
            index: batches++,
            listeners: listeners.map((l) => l.record),
            connections: conns,
          },
          [...listeners.map((l) => l.fd), ...connFds],
        );
      } while (next < pending.length || listenersLeft.length > 0);
      await channel.send({
        type: "end",
        protocol: TAKEOVER_PROTOCOL_VERSION,
        pid: env.pid(),
        batches,
        listeners: snapshot.listeners.length,
        connections,
        nextId: snapshot.nextId,
        appState: snapshot.appState,
      });
      const sentAt = performance.now();
      const ack = await channel.receive();
      const ackedAt = performance.now();
      for (const extra of ack.fds) env.close(extra);
      if (ack.message.type !== "ack") {
        throw new TakeoverProtocolError(
          `Expected ack from pid ${peer.pid}, got ${ack.message.type}`,
        );
      }
      clearTimeout(timer);
      // Past this point the new process serves: no rollback any more.
      await channel.send({ type: "commit" });
      this.#handedOver = true;
      const committedAt = performance.now();
      this.#source.release();
      channel.close();
      this.#options.onEvent({
        type: "handed-over",
        path: this.path,
        pid: peer.pid,
        listeners: snapshot.listeners.length,
        connections,
        unreadBytes,
        unsentBytes,
        pausedMs: committedAt - pausedAt,
        phasesMs: {
          stop: stoppedAt - pausedAt,
          send: sentAt - stoppedAt,
          ack: ackedAt - sentAt,
          commit: committedAt - ackedAt,
          release: performance.now() - committedAt,
        },
      });
      this.#options.onHandedOver();
    } catch (caught) {
      clearTimeout(timer);
      channel.close();
      const error = caught instanceof TakeoverError
        ? caught
        : new TakeoverError(
          `The handover to pid ${peer.pid} failed: ${
            caught instanceof Error ? caught.message : String(caught)
          }`,
          { cause: caught },
        );
      if (!paused) {
        this.#options.onEvent({
          type: "abandoned",
          path: this.path,
          pid: peer.pid,
          error,
        });
        return;
      }
      this.#source.resume();
      this.#options.onEvent({
        type: "rolled-back",
        path: this.path,
        pid: peer.pid,
        connections,
        pausedMs: performance.now() - pausedAt,
        error,
      });
    }
  }
}

/** The count of bytes base64 text stands for. */
function base64Length(text: string): number {
  if (text === "") return 0;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}
