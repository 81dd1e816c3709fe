/**
 * The seam between the takeover machinery and the operating system: every
 * call that touches the OS goes through one {@linkcode TakeoverEnv} object,
 * so tests can swap one touchpoint (say, the peer's credentials) for a fake
 * while the rest stays real (tableflip's `env`).
 *
 * @module
 */

import type { SocketKind } from "../ffi/mod.ts";

/** The credentials of the peer of a Unix socket. */
export interface PeerIdentity {
  /** Its process id. */
  pid: number;
  /** Its user id. */
  uid: number;
  /** Its group id. */
  gid: number;
}

/** What one receive on a Unix socket got. */
export interface ReceivedBytes {
  /** Data bytes placed in the buffer; 0 at end of file. */
  readonly bytes: number;
  /** fds that came with them, in order (now ours to close). */
  readonly fds: number[];
}

/** Every OS touchpoint of a takeover. */
export interface TakeoverEnv {
  /** This process's id. */
  pid(): number;
  /** This process's effective user id. */
  uid(): number;
  /**
   * Listens on a Unix stream socket at `path` with file mode `mode`,
   * non-blocking. Only a stale socket at `path` is replaced; a live one only
   * when `replaceLive` accepts its listener (`null`: unknown).
   */
  listenUnix(
    path: string,
    mode: number,
    replaceLive?: (peer: PeerIdentity | null) => boolean,
  ): number;
  /** Connects a non-blocking Unix stream socket to `path`. */
  connectUnix(path: string): number;
  /** Accepts one connection from a Unix listener; `null` when none waits. */
  acceptUnix(fd: number): number | null;
  /** The credentials of a Unix socket's peer (`SO_PEERCRED`). */
  peerCredentials(fd: number): PeerIdentity;
  /** Sends bytes and, with the first of them, fds; `null` when the buffer is full. */
  send(fd: number, bytes: Uint8Array, fds: readonly number[]): number | null;
  /** Receives bytes and fds; `null` when nothing is there yet. */
  receive(fd: number, buffer: Uint8Array): ReceivedBytes | null;
  /** `SO_COOKIE` of each socket, in order. */
  socketCookies(fds: readonly number[]): bigint[];
  /** What each fd is (`null`: not a socket), in order. */
  socketKinds(fds: readonly number[]): (SocketKind | null)[];
  /** Sets `O_NONBLOCK` on an fd. */
  setNonBlocking(fd: number): void;
  /** Grows the fd table so `count` more fds fit at once; `fd` is any open fd. */
  reserveFdSlots(fd: number, count: number): number;
  /**
   * Duplicates an fd (close-on-exec) to the lowest free slot: a spare that
   * is closed to make room when the fd table is full.
   */
  duplicateFd(fd: number): number;
  /** Closes an fd, never shutting a socket down. */
  close(fd: number): void;
  /** Removes a path; `false` when it did not exist. */
  unlink(path: string): boolean;
}
