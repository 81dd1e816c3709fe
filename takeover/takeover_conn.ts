/**
 * What a server sees of one connection served by a
 * {@linkcode TakeoverServer}, and the handler it supplies.
 *
 * @module
 */

import type { JsonValue } from "./protocol.ts";

/** Why a connection ended. */
export type CloseReason =
  /** The peer closed its side (FIN); anything unsent was flushed first. */
  | "eof"
  /** The peer reset the connection. */
  | "reset"
  /** A socket error other than a reset. */
  | "error"
  /** The handler called {@linkcode TakeoverConn.close}. */
  | "closed"
  /** More unconsumed input than `maxUnreadBytes`. */
  | "overflow"
  /** The server was closed. */
  | "shutdown";

/**
 * One TCP connection of a {@linkcode TakeoverServer}. The object lives in
 * one process; the connection it stands for may move to another process,
 * which then has its own `TakeoverConn` with the same `id`, `state`, unread
 * input and unsent output.
 */
export interface TakeoverConn {
  /** The connection's id, unique within a chain of handovers. */
  readonly id: number;
  /** The local address. */
  readonly localAddr: Deno.NetAddr;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /**
   * The application's state of this connection; any JSON value. It moves
   * with the connection. @default {null}
   */
  state: JsonValue;
  /** Whether the connection is closed or closing. */
  readonly closed: boolean;
  /** Bytes written but not yet taken by the kernel. */
  readonly unsentBytes: number;
  /**
   * Whether the unsent bytes passed the server's `maxUnsentBytes` (and half
   * of that is not sent yet): the connection is not read meanwhile. A
   * handler that answers several requests per {@linkcode ConnectionHandler.onData}
   * call should stop here and return what it consumed; the rest is passed
   * again once the client has read half of it. Otherwise a client that
   * pipelines requests and never reads makes it queue replies without bound.
   */
  readonly outputFull: boolean;
  /**
   * Sends `bytes` after anything still unsent; never blocks. What the
   * kernel does not take at once is copied and queued. Ignored once closed.
   *
   * During a handover, once the connection has been described to the new
   * process, writes are held back: they go out if the handover rolls back,
   * and are dropped (with a warning) if it commits. Replies computed
   * outside {@linkcode ConnectionHandler.onData} should use
   * {@linkcode TakeoverConn.beginReply}, which the handover waits for.
   *
   * @param bytes The bytes; free to reuse once the call returns.
   */
  write(bytes: Uint8Array): void;
  /**
   * Closes the connection once everything written is sent (a FIN: this
   * process holds the only copy). Safe to call more than once.
   */
  close(): void;
  /**
   * Marks a reply as in flight (an answer computed asynchronously): a
   * handover waits until every such reply is written before it hands the
   * connection over.
   *
   * @returns Call it once the reply is written; calling it again does nothing.
   */
  beginReply(): () => void;
}

/**
 * How a server serves its connections. Calls come one at a time, on the
 * JavaScript thread.
 */
export interface ConnectionHandler {
  /**
   * A connection starts being served here: just accepted, or (`restored`)
   * received from the previous process, with its `state`.
   */
  onOpen?(conn: TakeoverConn, restored: boolean): void;
  /**
   * Input is there. `data` is all the connection's unconsumed input: what
   * was left last time followed by what just arrived; it is valid only
   * during the call. Return how many bytes from its start were consumed
   * (answered). The rest is kept and passed again with the next input; it
   * is what a handover transfers as "read but not yet answered". It is
   * also passed again, with nothing new, once a full output has drained
   * ({@linkcode TakeoverConn.outputFull}) and once the last reply in flight
   * has ended ({@linkcode TakeoverConn.beginReply}): return 0 if it still
   * cannot be answered.
   */
  onData(conn: TakeoverConn, data: Uint8Array): number;
  /** The connection ended here (not called when it is handed over). */
  onClose?(conn: TakeoverConn, reason: CloseReason): void;
}
