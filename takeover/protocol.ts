/**
 * The takeover wire protocol on the Unix control socket: named constants,
 * the messages, and their framing.
 *
 * Every message is one frame: an 8-byte header — payload length (u32,
 * big-endian) and the count of fds sent with the frame (u32, big-endian) —
 * then the payload, a UTF-8 JSON object with a `type`. The fds of a frame
 * travel as `SCM_RIGHTS` ancillary data on the frame's first bytes, so they
 * arrive no later than the frame is complete, in order, at most
 * {@linkcode MAX_FDS_PER_FRAME} per frame.
 *
 * @module
 */

import { MAX_FDS_PER_MESSAGE } from "../ffi/mod.ts";

/** The protocol version in `hello` and `end`; both sides must agree. */
export const TAKEOVER_PROTOCOL_VERSION = 1;

/** Most fds per frame: Linux's `SCM_MAX_FD`. */
export const MAX_FDS_PER_FRAME: number = MAX_FDS_PER_MESSAGE;

/** Size of the frame header: payload length and fd count, both u32 BE. */
export const FRAME_HEADER_BYTES = 8;

/**
 * Largest payload the new process accepts from the old one, in bytes
 * (64 MiB). Only `batch` and `end` frames are large: the old process puts
 * at most {@linkcode BATCH_TARGET_BYTES} of descriptions in a batch, so a
 * batch larger than that holds one connection alone, whose unread and
 * unsent bytes (in base64) and state must fit; if they do not, the
 * handover rolls back.
 */
export const MAX_FRAME_BYTES: number = 64 << 20;

/**
 * Largest payload the old process accepts from an asker, in bytes (4 KiB).
 * An asker only ever sends `hello`, `ready` and `ack`, each under 100
 * bytes; a frame announcing more ends the exchange before it is read, so
 * no asker makes the old process buffer more than this.
 */
export const MAX_REQUEST_FRAME_BYTES = 4096;

/**
 * The old process starts a new batch once the descriptions in one reach
 * this many bytes (16 MiB), so that even connections with full buffers
 * travel in frames well under {@linkcode MAX_FRAME_BYTES}.
 */
export const BATCH_TARGET_BYTES: number = 16 << 20;

/**
 * How long an asker has, from its connection being accepted, to send its
 * `hello`, in ms (or the handover timeout, if shorter). A real new process
 * sends it at once; a silent one is dropped.
 */
export const HELLO_TIMEOUT_MS = 1000;

/**
 * How many askers the old process talks to at once before one of them
 * starts the handover proper; further ones wait in the socket's queue.
 * Askers are served side by side, so a silent or slow one holds up no
 * other.
 */
export const MAX_WAITING_ASKERS = 64;

/** Mode of the control socket file: owner read/write only. */
export const CONTROL_SOCKET_MODE = 0o600;

/** How long a handover may take before the old process resumes, by default. */
export const DEFAULT_HANDOVER_TIMEOUT_MS = 5000;

/** A value JSON can carry: what application and connection state must be. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A handed-over listening socket, keyed like tableflip's `{kind, network, addr}`. */
export interface ListenerRecord {
  /** Always `"listener"`. */
  kind: "listener";
  /** Always `"tcp"`. */
  network: "tcp";
  /** The bound address as `host:port` (`[::1]:80` for IPv6), real port included. */
  addr: string;
  /** `SO_COOKIE` of the socket, in decimal: the receiver checks the fd is this socket. */
  cookie: string;
}

/** A handed-over connection and what the old process knew about it. */
export interface ConnectionRecord {
  /** The connection's id; kept across handovers. */
  id: number;
  /** Local address, `host:port`. */
  local: string;
  /** Peer address, `host:port`. */
  remote: string;
  /** `SO_COOKIE` of the socket, in decimal. */
  cookie: string;
  /** Bytes read from the socket but not yet answered (consumed), base64. */
  unread: string;
  /** Reply bytes not yet accepted by the socket's send buffer, base64. */
  unsent: string;
  /** The application's state of this connection. */
  state: JsonValue;
  /** The application had asked to close it once `unsent` is out. */
  closing: boolean;
}

/** New → old: the first message of a takeover. */
export interface HelloMessage {
  type: "hello";
  protocol: number;
  pid: number;
}

/** Old → new: the takeover is refused; the old process goes on. */
export interface RefusedMessage {
  type: "refused";
  reason: string;
}

/**
 * Old → new, before anything pauses: how many sockets will come, so the new
 * process can make room for them in its fd table.
 */
export interface PrepareMessage {
  type: "prepare";
  listeners: number;
  connections: number;
}

/** New → old: room is made; the old process may pause and send. */
export interface ReadyMessage {
  type: "ready";
}

/** Old → new: up to {@linkcode MAX_FDS_PER_FRAME} sockets; the frame carries their fds, listeners first. */
export interface BatchMessage {
  type: "batch";
  index: number;
  listeners: ListenerRecord[];
  connections: ConnectionRecord[];
}

/** Old → new: all batches are sent; the totals and the application state. */
export interface EndMessage {
  type: "end";
  protocol: number;
  pid: number;
  batches: number;
  listeners: number;
  connections: number;
  /** The next connection id to give out, so ids stay unique along a chain. */
  nextId: number;
  appState: JsonValue;
}

/** New → old: everything arrived and checks out; the new process is ready. */
export interface AckMessage {
  type: "ack";
  pid: number;
}

/** Old → new: the old process has stopped for good; serve. */
export interface CommitMessage {
  type: "commit";
}

/** Any message of the protocol. */
export type TakeoverMessage =
  | HelloMessage
  | RefusedMessage
  | PrepareMessage
  | ReadyMessage
  | BatchMessage
  | EndMessage
  | AckMessage
  | CommitMessage;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a message as one frame.
 *
 * @param message The message.
 * @param fdCount How many fds will be sent with it.
 * @returns Header and payload.
 * @throws {RangeError} When the payload is too large or there are too many fds.
 */
export function encodeFrame(
  message: TakeoverMessage,
  fdCount = 0,
): Uint8Array {
  if (
    !Number.isInteger(fdCount) || fdCount < 0 || fdCount > MAX_FDS_PER_FRAME
  ) {
    throw new RangeError(
      `Invalid fd count: expected 0 to ${MAX_FDS_PER_FRAME}, got ${fdCount}`,
    );
  }
  const payload = encoder.encode(JSON.stringify(message));
  if (payload.length > MAX_FRAME_BYTES) {
    throw new RangeError(
      `Cannot encode a ${message.type} frame of ${payload.length} bytes: at most ${MAX_FRAME_BYTES}`,
    );
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length);
  view.setUint32(4, fdCount);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** A frame's header, read from the start of a buffer. */
export interface FrameHeader {
  /** Payload bytes that follow the header. */
  length: number;
  /** fds sent with the frame. */
  fdCount: number;
}

/**
 * Reads a frame header.
 *
 * @param bytes At least {@linkcode FRAME_HEADER_BYTES} bytes.
 * @param maxBytes The largest payload accepted.
 * @returns The header.
 * @throws {TakeoverProtocolError} Via the caller: a `RangeError` here when a
 * length or count is out of range.
 */
export function decodeFrameHeader(
  bytes: Uint8Array,
  maxBytes: number = MAX_FRAME_BYTES,
): FrameHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(0);
  const fdCount = view.getUint32(4);
  if (length > maxBytes) {
    throw new RangeError(
      `Frame of ${length} bytes is larger than ${maxBytes}`,
    );
  }
  if (fdCount > MAX_FDS_PER_FRAME) {
    throw new RangeError(
      `Frame announces ${fdCount} fds, more than ${MAX_FDS_PER_FRAME}`,
    );
  }
  return { length, fdCount };
}

/**
 * Decodes and checks a frame's payload.
 *
 * @param payload The JSON bytes.
 * @returns The message.
 * @throws {TypeError} When it is not valid UTF-8 JSON or not a known message.
 */
export function decodeMessage(payload: Uint8Array): TakeoverMessage {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch (error) {
    throw new TypeError("Invalid takeover message: not UTF-8 JSON", {
      cause: error,
    });
  }
  if (!isRecord(value) || typeof value.type !== "string") {
    throw new TypeError("Invalid takeover message: no type");
  }
  const ok = (() => {
    switch (value.type) {
      case "hello":
        return isInt(value.protocol) && isInt(value.pid);
      case "refused":
        return typeof value.reason === "string";
      case "prepare":
        return isInt(value.listeners) && isInt(value.connections);
      case "ready":
        return true;
      case "batch":
        return isInt(value.index) && Array.isArray(value.listeners) &&
          value.listeners.every(isListenerRecord) &&
          Array.isArray(value.connections) &&
          value.connections.every(isConnectionRecord);
      case "end":
        return isInt(value.protocol) && isInt(value.pid) &&
          isInt(value.batches) && isInt(value.listeners) &&
          isInt(value.connections) && isInt(value.nextId) &&
          "appState" in value;
      case "ack":
        return isInt(value.pid);
      case "commit":
        return true;
      default:
        return false;
    }
  })();
  if (!ok) {
    throw new TypeError(
      `Invalid takeover message: bad ${JSON.stringify(value.type)} message`,
    );
  }
  return value as unknown as TakeoverMessage;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function isListenerRecord(value: unknown): value is ListenerRecord {
  return isRecord(value) && value.kind === "listener" &&
    value.network === "tcp" && typeof value.addr === "string" &&
    typeof value.cookie === "string";
}

function isConnectionRecord(value: unknown): value is ConnectionRecord {
  return isRecord(value) && isInt(value.id) &&
    typeof value.local === "string" && typeof value.remote === "string" &&
    typeof value.cookie === "string" && typeof value.unread === "string" &&
    typeof value.unsent === "string" && "state" in value &&
    typeof value.closing === "boolean";
}

/**
 * Encodes bytes as base64 (for `unread` and `unsent`).
 *
 * @param bytes Any bytes.
 * @returns Standard base64 with padding.
 */
export function toBase64(bytes: Uint8Array): string {
  if (bytes.length === 0) return "";
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Decodes base64.
 *
 * @param text Standard base64.
 * @returns The bytes.
 * @throws {TypeError} When `text` is not base64.
 */
export function fromBase64(text: string): Uint8Array {
  if (text === "") return new Uint8Array(0);
  let binary: string;
  try {
    binary = atob(text);
  } catch (error) {
    throw new TypeError("Invalid base64 in a takeover message", {
      cause: error,
    });
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
