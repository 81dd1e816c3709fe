/**
 * The old process's side of a handover: an owner-only Unix socket where a
 * new process may ask to take over, the peer check, askers served side by
 * side, and the handover itself with its rollback.
 *
 * @module
 */

import { constants, ErrnoError, type Reactor } from "../ffi/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { AcceptFailures } from "./_accept_failures.ts";
import { ControlChannel } from "./control_channel.ts";
import {
  BATCH_TARGET_BYTES,
  type ConnectionRecord,
  CONTROL_SOCKET_MODE,
  encodeFrame,
  HELLO_TIMEOUT_MS,
  type JsonValue,
  type ListenerRecord,
  MAX_FDS_PER_FRAME,
  MAX_REQUEST_FRAME_BYTES,
  MAX_WAITING_ASKERS,
  TAKEOVER_PROTOCOL_VERSION,
  type TakeoverMessage,
} from "./protocol.ts";
import {
  TakeoverError,
  TakeoverProtocolError,
  TakeoverRefusedError,
  TakeoverTimeoutError,
} from "./takeover_error.ts";
import type { PeerIdentity, TakeoverEnv } from "./takeover_env.ts";

const { EPOLLIN } = constants;
const log = tcpkitLogger("takeover");

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
    /**
     * A process was refused — another user; or it was ready while another
     * handover was under way, or after one committed — and got a `refused`
     * message.
     */
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
  /** From the pause to the ack, and from the hello to the ready, in ms. */
  timeoutMs: number;
  /** The OS seam. */
  env: TakeoverEnv;
  /**
   * Whether a server still listening at the path may be replaced, given its
   * credentials (`null`: unknown). By default none may: offering a path
   * another server offers is refused.
   */
  replaceLive?: (peer: PeerIdentity | null) => boolean;
  /** Told about every refusal, handover and rollback. */
  onEvent(event: TakeoverEvent): void;
  /** Called after a committed handover (the source is released). */
  onHandedOver(): void;
}

/** A connected asker that has not started a handover (yet). */
interface Asker {
  readonly channel: ControlChannel;
  readonly peer: PeerIdentity;
  /** Set once we refused it ourselves (the event is sent already). */
  refused: boolean;
}

/** Most connections taken from the control socket's queue per wakeup. */
const ACCEPTS_PER_EVENT = 64;
/** Pause before accepting again after accept() failed (EMFILE…), in ms. */
const ACCEPT_RETRY_MS = 100;

/**
 * Offers the sockets of a {@linkcode HandoverSource} on a Unix socket at
 * `path` (mode 0600). Only a peer with our effective uid, or root, is served
 * (`SO_PEERCRED`); others get a `refused` message and an event.
 *
 * Askers are served side by side, each within its own time limits (a
 * `hello` within {@linkcode HELLO_TIMEOUT_MS}, then `ready` within the
 * timeout), so a silent or slow one holds up no other; up to
 * {@linkcode MAX_WAITING_ASKERS} at once, further ones wait in the socket's
 * queue. The first to be `ready` gets the handover; one that is ready while
 * a handover is under way is refused, and once a handover has committed
 * every other asker is refused.
 */
export class HandoverOffer {
  readonly path: string;
  readonly #source: HandoverSource;
  readonly #reactor: Reactor;
  readonly #options: HandoverOfferOptions;
  readonly #listenFd: number;
  readonly #askers = new Set<Asker>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #failures: AcceptFailures;
  #watching = false;
  // A copy of the listening fd that holds one slot of the fd table: out of
  // fds (a remote client can get us there), it is closed to accept the
  // asker, so a handover, the way out, still works.
  #spareFd: number | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #busyPid: number | undefined;
  #closed = false;
  #handedOverTo: number | undefined;
  #abortCurrent: ((error: Error) => void) | undefined;

  /**
   * Creates the control socket at `path` and starts accepting on it. Only
   * a stale socket file at `path` is replaced.
   *
   * @param path The control socket's path.
   * @param source The server to hand over.
   * @param reactor The reactor that drives the sockets.
   * @param options Timeout, env, callbacks.
   * @throws {Deno.errors.AlreadyExists} When something other than a socket
   * is at `path`.
   * @throws {Deno.errors.AddrInUse} When a server (another offer) listens at
   * `path`.
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
    this.#listenFd = options.env.listenUnix(
      path,
      CONTROL_SOCKET_MODE,
      options.replaceLive,
    );
    this.#failures = new AcceptFailures(`the takeover socket ${path}`, {
      log,
      retryMs: ACCEPT_RETRY_MS,
    });
    this.#refillSpare();
    this.#watch();
  }

  /** Whether a handover is under way. */
  get busy(): boolean {
    return this.#busyPid !== undefined;
  }

  /** How many askers are connected and have not started a handover. */
  get askers(): number {
    return this.#askers.size;
  }

  /**
   * Stops offering. A handover under way is aborted first (rolled back),
   * and every waiting asker is dropped. The socket file is removed unless a
   * handover committed: then it is the new process's.
   *
   * @returns Resolves once any handover under way has ended.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      await Promise.all(this.#tasks);
      return;
    }
    this.#closed = true;
    this.#unwatch();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#failures.ended("stopped");
    const error = new TakeoverError("The offer was closed");
    for (const asker of this.#askers) asker.channel.abort(error);
    if (this.#handedOverTo === undefined) {
      this.#abortCurrent?.(
        new TakeoverError("The offer was closed during the handover"),
      );
    }
    await Promise.all(this.#tasks);
    if (this.#spareFd !== undefined) this.#options.env.close(this.#spareFd);
    this.#spareFd = undefined;
    this.#options.env.close(this.#listenFd);
    if (this.#handedOverTo === undefined) {
      try {
        this.#options.env.unlink(this.path);
      } catch {
        // Gone already, or not ours to remove: nothing to clean.
      }
    }
  }

  #watch(): void {
    // While a retry is pending the timer watches again.
    if (
      this.#watching || this.#closed || this.#handedOverTo !== undefined ||
      this.#retryTimer !== undefined
    ) {
      return;
    }
    this.#watching = true;
    this.#reactor.watch(this.#listenFd, EPOLLIN, () => this.#onAcceptable());
  }

  #unwatch(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.#reactor.unwatch(this.#listenFd);
  }

  /**
   * Stops watching for a while: after a failed accept the socket stays
   * readable, and a watched one would call us again at once, for ever (a
   * core at 100%, and no time left for the handover).
   */
  #retryLater(): void {
    this.#unwatch();
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#refillSpare();
      this.#watch();
    }, ACCEPT_RETRY_MS);
  }

  /** Takes the spare slot back once an fd is free (best effort). */
  #refillSpare(): void {
    if (
      this.#spareFd !== undefined || this.#closed ||
      this.#handedOverTo !== undefined
    ) {
      return;
    }
    try {
      this.#spareFd = this.#options.env.duplicateFd(this.#listenFd);
    } catch {
      // Still out of fds: tried again after the next asker or retry.
    }
  }

  /** Accepts an asker, with the spare's slot when out of fds. */
  #acceptAsker(): number | null {
    const { env } = this.#options;
    try {
      return env.acceptUnix(this.#listenFd);
    } catch (error) {
      const spare = this.#spareFd;
      if (
        spare === undefined ||
        !(error instanceof ErrnoError && error.code === "EMFILE")
      ) {
        throw error;
      }
      this.#spareFd = undefined;
      env.close(spare);
      log.warn(
        "out of fds: a takeover asker on {path} gets the spare fd's slot",
        { path: this.path },
      );
      return env.acceptUnix(this.#listenFd);
    }
  }

  #onAcceptable(): void {
    const { env } = this.#options;
    for (let i = 0; i < ACCEPTS_PER_EVENT; i++) {
      if (this.#closed || this.#handedOverTo !== undefined) return;
      if (this.#askers.size >= MAX_WAITING_ASKERS) {
        // The rest wait in the queue until an asker leaves.
        this.#unwatch();
        return;
      }
      const hadSpare = this.#spareFd !== undefined;
      let fd: number | null;
      try {
        fd = this.#acceptAsker();
      } catch (error) {
        this.#failures.failed(error);
        this.#retryLater();
        return;
      }
      this.#failures.ended("recovered");
      if (fd === null) return;
      let peer: PeerIdentity;
      try {
        peer = env.peerCredentials(fd);
      } catch {
        env.close(fd);
        this.#refillSpare();
        continue;
      }
      const own = env.uid();
      if (peer.uid !== own && peer.uid !== 0) {
        this.#refuseNow(
          fd,
          peer,
          `uid ${peer.uid} may not take over a process of uid ${own} (only the same user or root may)`,
        );
        env.close(fd);
        this.#refillSpare();
        continue;
      }
      this.#track(this.#serve(fd, peer));
      // Out of fds: the next accept() could only fail (it takes an fd
      // before it looks at the queue). A waiting asker wakes us again.
      if (hadSpare && this.#spareFd === undefined) return;
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  /**
   * Sends a `refused` frame without waiting (a fresh socket's buffer takes
   * it, or it is dropped) and reports the refusal.
   */
  #refuseNow(fd: number, peer: PeerIdentity, reason: string): void {
    try {
      this.#options.env.send(fd, encodeFrame({ type: "refused", reason }), []);
    } catch {
      // The asker is gone already; the refusal stands.
    }
    this.#options.onEvent({ type: "refused", path: this.path, peer, reason });
  }

  /** Step 0 with one asker, side by side with any others. */
  async #serve(fd: number, peer: PeerIdentity): Promise<void> {
    const channel = new ControlChannel(
      fd,
      this.#reactor,
      this.#options.env,
      `pid ${peer.pid}`,
      // An asker sends only tiny frames: never buffer more for one.
      { maxFrameBytes: MAX_REQUEST_FRAME_BYTES },
    );
    const asker: Asker = { channel, peer, refused: false };
    this.#askers.add(asker);
    try {
      await this.#greet(channel, peer);
    } catch (caught) {
      this.#abandon(asker, caught);
      return;
    }
    this.#askers.delete(asker);
    this.#watch();
    if (this.#busyPid !== undefined || this.#closed) {
      const reason = this.#closed
        ? "the offer is closing"
        : `a takeover by pid ${this.#busyPid} is under way`;
      this.#refuseNow(channel.fd, peer, reason);
      channel.close();
      this.#refillSpare();
      return;
    }
    this.#busyPid = peer.pid;
    try {
      await this.#handOver(channel, peer);
    } finally {
      this.#busyPid = undefined;
      this.#abortCurrent = undefined;
    }
  }

  /**
   * The `hello` (within {@linkcode HELLO_TIMEOUT_MS}), our `prepare`, and
   * the `ready` (within the timeout). Nothing is paused yet.
   */
  async #greet(channel: ControlChannel, peer: PeerIdentity): Promise<void> {
    const { env, timeoutMs } = this.#options;
    const abort = (error: Error) => channel.abort(error);
    const helloMs = Math.min(HELLO_TIMEOUT_MS, timeoutMs);
    let timer = timeoutAfter(
      helloMs,
      abort,
      `pid ${peer.pid} sent no hello within ${helloMs} ms`,
    );
    try {
      const hello = await receiveExpected(channel, env, "hello", peer);
      if (hello.protocol !== TAKEOVER_PROTOCOL_VERSION) {
        const reason =
          `protocol ${hello.protocol} is not ${TAKEOVER_PROTOCOL_VERSION}`;
        await channel.send({ type: "refused", reason });
        throw new TakeoverRefusedError(`Refused pid ${peer.pid}: ${reason}`);
      }
      clearTimeout(timer);
      timer = timeoutAfter(
        timeoutMs,
        abort,
        `pid ${peer.pid} was not ready within ${timeoutMs} ms`,
      );
      // Tell the new process how many fds to make room for, and wait until
      // it has: nothing is paused yet.
      await channel.send({ type: "prepare", ...this.#source.count() });
      await receiveExpected(channel, env, "ready", peer);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops an asker that failed before the pause, and reports it. */
  #abandon(asker: Asker, caught: unknown): void {
    this.#askers.delete(asker);
    asker.channel.close();
    this.#refillSpare();
    this.#watch();
    if (asker.refused) return;
    this.#options.onEvent({
      type: "abandoned",
      path: this.path,
      pid: asker.peer.pid,
      error: asTakeoverError(caught, asker.peer),
    });
  }

  /** Steps 1 to 4 with the asker that is ready; rolls back on failure. */
  async #handOver(channel: ControlChannel, peer: PeerIdentity): Promise<void> {
    const { env, timeoutMs } = this.#options;
    const controller = new AbortController();
    const abort = (error: Error) => {
      channel.abort(error);
      controller.abort(error);
    };
    this.#abortCurrent = abort;
    const timer = timeoutAfter(
      timeoutMs,
      abort,
      `pid ${peer.pid} did not acknowledge the handover within ${timeoutMs} ms`,
    );
    const pausedAt = performance.now();
    const sent: SentTally = {
      batches: 0,
      connections: 0,
      unreadBytes: 0,
      unsentBytes: 0,
    };
    try {
      this.#options.onEvent({
        type: "handing-over",
        path: this.path,
        pid: peer.pid,
      });
      const snapshot = await this.#source.pause(controller.signal);
      const stoppedAt = performance.now();
      await this.#send(channel, snapshot, sent);
      const sentAt = performance.now();
      await receiveExpected(channel, env, "ack", peer);
      const ackedAt = performance.now();
      clearTimeout(timer);
      await this.#commit(channel, peer);
      const committedAt = performance.now();
      this.#source.release();
      channel.close();
      this.#reportHandedOver(peer, snapshot.listeners.length, sent, {
        paused: pausedAt,
        stopped: stoppedAt,
        sent: sentAt,
        acked: ackedAt,
        committed: committedAt,
      });
      this.#options.onHandedOver();
    } catch (caught) {
      clearTimeout(timer);
      this.#rollBack(channel, peer, sent.connections, pausedAt, caught);
    }
  }

  /**
   * Step 3: the batches, then the `end`. Batches hold at most 253 fds and
   * about {@linkcode BATCH_TARGET_BYTES} of descriptions, listeners first;
   * each connection is described just before its batch goes, so the new
   * process works on one batch while the next is described. `sent` is kept
   * up to date as batches go, for a rollback's report.
   */
  async #send(
    channel: ControlChannel,
    snapshot: HandoverSnapshot,
    sent: SentTally,
  ): Promise<void> {
    const pending = snapshot.connections;
    let next = 0;
    let listenersLeft = [...snapshot.listeners];
    do {
      const listeners = listenersLeft.slice(0, MAX_FDS_PER_FRAME);
      listenersLeft = listenersLeft.slice(listeners.length);
      const batch = describeBatch(
        pending,
        next,
        MAX_FDS_PER_FRAME - listeners.length,
        sent,
      );
      next = batch.next;
      sent.connections += batch.records.length;
      await channel.send(
        {
          type: "batch",
          index: sent.batches++,
          listeners: listeners.map((l) => l.record),
          connections: batch.records,
        },
        [...listeners.map((l) => l.fd), ...batch.fds],
      );
    } while (next < pending.length || listenersLeft.length > 0);
    await channel.send({
      type: "end",
      protocol: TAKEOVER_PROTOCOL_VERSION,
      pid: this.#options.env.pid(),
      batches: sent.batches,
      listeners: snapshot.listeners.length,
      connections: sent.connections,
      nextId: snapshot.nextId,
      appState: snapshot.appState,
    });
  }

  /**
   * Step 4: the commit, after which the new process serves and there is no
   * rollback any more; every other asker is refused.
   */
  async #commit(channel: ControlChannel, peer: PeerIdentity): Promise<void> {
    await channel.send({ type: "commit" });
    this.#handedOverTo = peer.pid;
    // Nobody else may take over what is gone.
    this.#unwatch();
    for (const asker of [...this.#askers]) {
      asker.refused = true;
      this.#refuseNow(
        asker.channel.fd,
        asker.peer,
        `this process has handed over to pid ${peer.pid}`,
      );
      asker.channel.abort(new TakeoverError("Handed over"));
    }
  }

  #reportHandedOver(
    peer: PeerIdentity,
    listeners: number,
    sent: SentTally,
    at: PhaseEnds,
  ): void {
    this.#options.onEvent({
      type: "handed-over",
      path: this.path,
      pid: peer.pid,
      listeners,
      connections: sent.connections,
      unreadBytes: sent.unreadBytes,
      unsentBytes: sent.unsentBytes,
      pausedMs: at.committed - at.paused,
      phasesMs: {
        stop: at.stopped - at.paused,
        send: at.sent - at.stopped,
        ack: at.acked - at.sent,
        commit: at.committed - at.acked,
        release: performance.now() - at.committed,
      },
    });
  }

  /** Failed after the pause: serves everything here again, and reports it. */
  #rollBack(
    channel: ControlChannel,
    peer: PeerIdentity,
    connections: number,
    pausedAt: number,
    caught: unknown,
  ): void {
    channel.close();
    this.#refillSpare();
    this.#source.resume();
    this.#options.onEvent({
      type: "rolled-back",
      path: this.path,
      pid: peer.pid,
      connections,
      pausedMs: performance.now() - pausedAt,
      error: asTakeoverError(caught, peer),
    });
  }
}

/** What a handover has sent so far. */
export interface SentTally {
  /** Batch frames sent. */
  batches: number;
  /** Connections described so far. */
  connections: number;
  /** Bytes read but not yet answered, over the connections sent. */
  unreadBytes: number;
  /** Reply bytes not yet taken by the kernel, over the connections sent. */
  unsentBytes: number;
}

/** When each phase of a handover ended (`performance.now()`). */
interface PhaseEnds {
  paused: number;
  stopped: number;
  sent: number;
  acked: number;
  committed: number;
}

/**
 * Describes the connections of the next batch, from `pending[from]` on: at
 * most `room` of them, and at least one unless `room` is 0, until about
 * {@linkcode BATCH_TARGET_BYTES}. Ones that closed meanwhile are skipped.
 */
export function describeBatch(
  pending: readonly PausedConnection[],
  from: number,
  room: number,
  sent: SentTally,
): { records: ConnectionRecord[]; fds: number[]; next: number } {
  const records: ConnectionRecord[] = [];
  const fds: number[] = [];
  let next = from;
  let bytes = 0;
  while (
    records.length < room &&
    next < pending.length &&
    (records.length === 0 || bytes < BATCH_TARGET_BYTES)
  ) {
    const conn = pending[next++]!;
    const record = conn.describe();
    if (record === null) continue;
    records.push(record);
    fds.push(conn.fd);
    // The buffers dominate; the rest of a record is small.
    bytes += record.unread.length + record.unsent.length + 256;
    sent.unreadBytes += base64Length(record.unread);
    sent.unsentBytes += base64Length(record.unsent);
  }
  return { records, fds, next };
}

/**
 * Receives the next message, which must be a `type` (the hello, the ready,
 * the ack); any fds it carried are closed.
 *
 * @throws {TakeoverProtocolError} When it is another message.
 */
async function receiveExpected<T extends TakeoverMessage["type"]>(
  channel: ControlChannel,
  env: TakeoverEnv,
  type: T,
  peer: PeerIdentity,
): Promise<Extract<TakeoverMessage, { type: T }>> {
  const { message, fds } = await channel.receive();
  for (const extra of fds) env.close(extra);
  if (!isMessageOf(message, type)) {
    throw new TakeoverProtocolError(
      `Expected ${type} from pid ${peer.pid}, got ${message.type}`,
    );
  }
  return message;
}

function isMessageOf<T extends TakeoverMessage["type"]>(
  message: TakeoverMessage,
  type: T,
): message is Extract<TakeoverMessage, { type: T }> {
  return message.type === type;
}

/** Aborts with a {@linkcode TakeoverTimeoutError} once `ms` have passed. */
function timeoutAfter(
  ms: number,
  abort: (error: Error) => void,
  message: string,
): ReturnType<typeof setTimeout> {
  return setTimeout(() => abort(new TakeoverTimeoutError(message)), ms);
}

function asTakeoverError(caught: unknown, peer: PeerIdentity): TakeoverError {
  return caught instanceof TakeoverError ? caught : new TakeoverError(
    `The handover to pid ${peer.pid} failed: ${
      caught instanceof Error ? caught.message : String(caught)
    }`,
    { cause: caught },
  );
}

/** The count of bytes base64 text stands for. */
function base64Length(text: string): number {
  if (text === "") return 0;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}
