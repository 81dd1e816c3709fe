/**
 * The new process's side of a handover: connect to the old process's
 * control socket, receive every socket with its description, check them,
 * acknowledge, and wait for the commit.
 *
 * @module
 */

import {
  formatSocketKind,
  isTcp,
  type Reactor,
  type SocketKind,
} from "../ffi/mod.ts";
import { ControlChannel } from "./control_channel.ts";
import {
  type BatchMessage,
  type ConnectionRecord,
  type EndMessage,
  type JsonValue,
  type ListenerRecord,
  TAKEOVER_PROTOCOL_VERSION,
} from "./protocol.ts";
import {
  TakeoverError,
  TakeoverProtocolError,
  TakeoverRefusedError,
  TakeoverTimeoutError,
  TakeoverUnavailableError,
  TakeoverUntrustedError,
} from "./takeover_error.ts";
import type { PeerIdentity, TakeoverEnv } from "./takeover_env.ts";
import { errorMessage } from "../common/mod.ts";

/** How often a connect is retried while the old process's queue is full. */
const CONNECT_RETRY_MS = 10;

/** A socket received in a handover: its description and our new fd. */
export interface ReceivedSocket<R> {
  /** What the old process said about it. */
  readonly record: R;
  /** The fd in this process (close-on-exec). */
  readonly fd: number;
}

/** Everything a committed handover delivered. */
export interface ReceivedHandover {
  /** The old process's pid, as the kernel reports it (`SO_PEERCRED`). */
  readonly fromPid: number;
  /** The old process's credentials when it listened (`SO_PEERCRED`). */
  readonly offerer: PeerIdentity;
  /** The application state the old process sent. */
  readonly appState: JsonValue;
  /** The listening sockets. */
  readonly listeners: ReceivedSocket<ListenerRecord>[];
  /** The connections, with their unread input, unsent output and state. */
  readonly connections: ReceivedSocket<ConnectionRecord>[];
  /** The next connection id to give out. */
  readonly nextId: number;
  /** From the connect to the commit, in ms. */
  readonly elapsedMs: number;
  /**
   * How that time was spent: connecting; hello to ready (making room for the
   * fds); receiving, from the ready to the end (the old process pauses at the
   * ready); checking; acknowledging until the commit.
   */
  readonly phasesMs: {
    readonly connect: number;
    readonly prepare: number;
    readonly receive: number;
    readonly commit: number;
  };
}

/** Options of {@linkcode receiveHandover}. */
export interface ReceiveHandoverOptions {
  /** The reactor that drives the control socket. */
  reactor: Reactor;
  /** The OS seam. */
  env: TakeoverEnv;
  /** The whole exchange, connect to commit, must end within this, in ms. */
  timeoutMs: number;
  /** Called before telling the old process to pause (to warm up). */
  beforeReady?: () => void;
  /** Called once the sockets are received and checked, before the ack (tests use it to stall). */
  beforeAck?: (
    received: { listeners: number; connections: number },
  ) => Promise<void> | void;
}

/**
 * Takes over from the process offering at `path`, up to and including its
 * commit. On any failure our copies of the received fds are closed (without
 * a shutdown: the old process still holds its own, and resumes) and the
 * error is thrown; after a commit the sockets are ours alone.
 *
 * @param path The old process's control socket.
 * @param options Reactor, env and timeout.
 * @returns The sockets and state.
 * @throws {TakeoverUnavailableError} When nothing listens at `path`.
 * @throws {TakeoverRefusedError} When the old process, or the socket file's
 * permissions, refuse us.
 * @throws {TakeoverUntrustedError} When we refuse the old process: it runs
 * as a user that is neither ours nor root, or sends fds that are not the
 * TCP sockets described.
 * @throws {TakeoverTimeoutError} When the exchange outlasts the timeout.
 * @throws {TakeoverAbortedError} When the old process goes away.
 * @throws {TakeoverProtocolError} For anything malformed.
 */
export async function receiveHandover(
  path: string,
  options: ReceiveHandoverOptions,
): Promise<ReceivedHandover> {
  const { env, reactor, timeoutMs } = options;
  const started = performance.now();
  const sockets: ReceivedSockets = { listeners: [], connections: [] };
  let channel: ControlChannel | undefined;
  const timeout = new TakeoverTimeoutError(
    `The takeover from ${path} did not complete within ${timeoutMs} ms`,
  );
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    channel?.abort(timeout);
  }, timeoutMs);
  try {
    const fd = await connect(path, env, () => timedOut, timeout);
    channel = new ControlChannel(fd, reactor, env, `the process at ${path}`);
    if (timedOut) throw timeout;
    const connectedAt = performance.now();
    const offerer = checkOfferer(path, fd, env);
    await prepare(channel, path, options);
    const readyAt = performance.now();
    const end = await receiveBatches(channel, path, env, sockets);
    checkEnd(end, sockets);
    const receivedAt = performance.now();
    await acknowledge(channel, env, sockets, options.beforeAck);
    return {
      fromPid: offerer.pid,
      offerer,
      appState: end.appState,
      listeners: sockets.listeners,
      connections: sockets.connections,
      nextId: end.nextId,
      elapsedMs: performance.now() - started,
      phasesMs: {
        connect: connectedAt - started,
        prepare: readyAt - connectedAt,
        receive: receivedAt - readyAt,
        commit: performance.now() - receivedAt,
      },
    };
  } catch (error) {
    // Our copies only: the old process holds its own and resumes serving.
    for (const { fd } of [...sockets.listeners, ...sockets.connections]) {
      env.close(fd);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    channel?.close();
  }
}

/** The sockets received so far: ours, closed if the handover fails. */
interface ReceivedSockets {
  readonly listeners: ReceivedSocket<ListenerRecord>[];
  readonly connections: ReceivedSocket<ConnectionRecord>[];
}

/**
 * Checks who listens at `path` before a byte is trusted: whoever listens at
 * a path in a shared directory could hand us sockets and state of their own
 * making.
 *
 * @returns The offerer's credentials.
 * @throws {TakeoverUntrustedError} When it is neither our uid nor root.
 */
function checkOfferer(
  path: string,
  fd: number,
  env: TakeoverEnv,
): PeerIdentity {
  const offerer = env.peerCredentials(fd);
  const own = env.uid();
  if (offerer.uid !== own && offerer.uid !== 0) {
    throw new TakeoverUntrustedError(
      `The process at ${path} (pid ${offerer.pid}) runs as uid ${offerer.uid}: only uid ${own} or root may hand a server over to this process`,
    );
  }
  return offerer;
}

/**
 * The hello, the prepare, room for every fd, and the ready: after it the old
 * process pauses.
 */
async function prepare(
  channel: ControlChannel,
  path: string,
  options: ReceiveHandoverOptions,
): Promise<void> {
  const { env } = options;
  try {
    await channel.send({
      type: "hello",
      protocol: TAKEOVER_PROTOCOL_VERSION,
      pid: env.pid(),
    });
  } catch (error) {
    // A refusing process closes at once; its reason may still be there.
    throw await refusal(channel, path) ?? error;
  }
  // Room for every fd first, before the old process pauses: growing a
  // busy fd table later would stall the handover (see reserveFdSlots).
  const first = await channel.receive();
  for (const fd of first.fds) env.close(fd);
  if (first.message.type === "refused") {
    throw new TakeoverRefusedError(
      `The process at ${path} refused the takeover: ${first.message.reason}`,
    );
  }
  if (first.message.type !== "prepare") {
    throw new TakeoverProtocolError(
      `Expected prepare after the hello, got ${first.message.type}`,
    );
  }
  const expected = first.message.listeners + first.message.connections;
  try {
    // A margin for connections accepted until the pause.
    env.reserveFdSlots(channel.fd, Math.ceil(expected * 1.25) + 64);
  } catch (error) {
    throw new TakeoverError(
      `Cannot make room for ${expected} sockets: ${(error as Error).message}`,
      { cause: error },
    );
  }
  // Nothing is paused yet: the time to get ready costs clients nothing.
  options.beforeReady?.();
  await channel.send({ type: "ready" });
}

/**
 * Receives the batches, each checked as it comes, into `sockets`, up to the
 * end.
 *
 * @returns The end message.
 */
async function receiveBatches(
  channel: ControlChannel,
  path: string,
  env: TakeoverEnv,
  sockets: ReceivedSockets,
): Promise<EndMessage> {
  for (let index = 0;;) {
    const { message, fds } = await channel.receive();
    switch (message.type) {
      case "refused":
        for (const fd of fds) env.close(fd);
        throw new TakeoverRefusedError(
          `The process at ${path} refused the takeover: ${message.reason}`,
        );
      case "batch":
        takeBatch(path, message, fds, index, env, sockets);
        index++;
        break;
      case "end":
        for (const fd of fds) env.close(fd);
        if (message.batches !== index) {
          throw new TakeoverProtocolError(
            `The old process sent ${index} batches but announced ${message.batches}`,
          );
        }
        return message;
      default:
        for (const fd of fds) env.close(fd);
        throw new TakeoverProtocolError(
          `Unexpected ${message.type} message during the handover`,
        );
    }
  }
}

/**
 * Takes a batch's fds into `sockets` (ours from here, whatever happens
 * next: closed on failure), then checks the batch.
 *
 * @throws {TakeoverProtocolError} When it is out of order, its fds do not
 * match its descriptions, or an fd is not the very socket described.
 * @throws {TakeoverUntrustedError} When an fd is not the kind described.
 */
function takeBatch(
  path: string,
  message: BatchMessage,
  received: number[],
  index: number,
  env: TakeoverEnv,
  sockets: ReceivedSockets,
): void {
  const expected = message.listeners.length + message.connections.length;
  const batchListeners = received.slice(0, message.listeners.length);
  const batchConns = received.slice(message.listeners.length);
  message.listeners.forEach((record, i) => {
    const fd = batchListeners[i];
    if (fd !== undefined) sockets.listeners.push({ record, fd });
  });
  message.connections.forEach((record, i) => {
    const fd = batchConns[i];
    if (fd !== undefined) sockets.connections.push({ record, fd });
  });
  for (const fd of received.slice(expected)) env.close(fd);
  if (message.index !== index) {
    throw new TakeoverProtocolError(
      `Batch ${message.index} arrived where ${index} was due`,
    );
  }
  if (received.length !== expected) {
    throw new TakeoverProtocolError(
      `Batch ${index} describes ${expected} sockets but carried ${received.length} fds`,
    );
  }
  // Each fd must be the kind of socket described (a blocking or non-TCP fd
  // would hang or break the reactor), then the very socket described, not
  // merely one like it; checked batch by batch while the next is on its
  // way.
  checkKinds(path, received, message.listeners.length, env);
  const records = [...message.listeners, ...message.connections];
  env.socketCookies(received).forEach((cookie, i) => {
    if (String(cookie) !== records[i]!.cookie) {
      throw new TakeoverProtocolError(
        `fd ${received[i]} is socket ${cookie}, but the description says ${
          records[i]!.cookie
        }`,
      );
    }
  });
}

/**
 * Checks the end against what arrived.
 *
 * @throws {TakeoverProtocolError} For another protocol, or counts that differ.
 */
function checkEnd(end: EndMessage, sockets: ReceivedSockets): void {
  const { listeners, connections } = sockets;
  if (end.protocol !== TAKEOVER_PROTOCOL_VERSION) {
    throw new TakeoverProtocolError(
      `The old process speaks protocol ${end.protocol}, not ${TAKEOVER_PROTOCOL_VERSION}`,
    );
  }
  if (
    end.listeners !== listeners.length ||
    end.connections !== connections.length
  ) {
    throw new TakeoverProtocolError(
      `Announced ${end.listeners} listeners and ${end.connections} connections, received ${listeners.length} and ${connections.length}`,
    );
  }
}

/** Sends the ack and waits for the commit. */
async function acknowledge(
  channel: ControlChannel,
  env: TakeoverEnv,
  sockets: ReceivedSockets,
  beforeAck: ReceiveHandoverOptions["beforeAck"],
): Promise<void> {
  await beforeAck?.({
    listeners: sockets.listeners.length,
    connections: sockets.connections.length,
  });
  await channel.send({ type: "ack", pid: env.pid() });
  const { message, fds } = await channel.receive();
  for (const fd of fds) env.close(fd);
  if (message.type !== "commit") {
    throw new TakeoverProtocolError(
      `Expected commit after the ack, got ${message.type}`,
    );
  }
}

/**
 * Checks that the first `listeners` fds are listening TCP sockets and the
 * rest connected-side TCP sockets (not listening), and makes every one
 * non-blocking: the flag belongs to the sender, who may not have set it.
 *
 * @throws {TakeoverUntrustedError} For the first fd that is not.
 */
function checkKinds(
  path: string,
  fds: readonly number[],
  listeners: number,
  env: TakeoverEnv,
): void {
  const kinds: (SocketKind | null)[] = env.socketKinds(fds);
  kinds.forEach((kind, i) => {
    const listener = i < listeners;
    if (!isTcp(kind) || kind.listening !== listener) {
      throw new TakeoverUntrustedError(
        `The process at ${path} sent fd ${fds[i]} as ${
          listener ? "a listening TCP socket" : "a TCP connection"
        }, but it is ${formatSocketKind(kind)}`,
      );
    }
  });
  for (const fd of fds) env.setNonBlocking(fd);
}

/** The refusal waiting on a channel the peer closed, if there is one. */
async function refusal(
  channel: ControlChannel,
  path: string,
): Promise<TakeoverRefusedError | undefined> {
  try {
    const { message, fds } = await channel.receive();
    for (const fd of fds) channel.closeReceived(fd);
    if (message.type === "refused") {
      return new TakeoverRefusedError(
        `The process at ${path} refused the takeover: ${message.reason}`,
      );
    }
  } catch {
    // Nothing readable: the send error stands.
  }
  return undefined;
}

async function connect(
  path: string,
  env: TakeoverEnv,
  timedOut: () => boolean,
  timeout: TakeoverTimeoutError,
): Promise<number> {
  while (true) {
    try {
      return env.connectUnix(path);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "EAGAIN") {
        if (timedOut()) throw timeout;
        await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
        continue;
      }
      const detail = errorMessage(error);
      if (code === "ENOENT" || code === "ECONNREFUSED") {
        throw new TakeoverUnavailableError(
          `Nothing offers a takeover at ${path}: ${detail}`,
          { cause: error },
        );
      }
      if (code === "EACCES" || code === "EPERM") {
        throw new TakeoverRefusedError(
          `Permission denied on ${path}: the takeover socket is owner-only (mode 0600), so only its owner or root may take over`,
          { cause: error },
        );
      }
      throw new TakeoverError(`Cannot connect to ${path}: ${detail}`, {
        cause: error,
      });
    }
  }
}
