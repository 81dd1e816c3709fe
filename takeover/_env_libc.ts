/**
 * The real {@linkcode TakeoverEnv}: libc through `ffi/`.
 *
 * @module
 */

import {
  acceptSocket,
  closeFd,
  connectUnix,
  getPeerCredentials,
  libc,
  listenUnix,
  receiveWithFds,
  reserveFdSlots,
  sendWithFds,
  socketCookies,
  unlinkPath,
} from "../ffi/mod.ts";
import type { TakeoverEnv } from "./takeover_env.ts";

/** The environment takeovers use unless told otherwise. */
export const LIBC_ENV: TakeoverEnv = Object.freeze({
  pid: () => Deno.pid,
  uid: () => libc().geteuid(),
  listenUnix: (path: string, mode: number) => listenUnix(path, { mode }),
  connectUnix,
  // accept4() works the same on Unix listeners.
  acceptUnix: acceptSocket,
  peerCredentials: getPeerCredentials,
  send: sendWithFds,
  receive: receiveWithFds,
  socketCookies,
  reserveFdSlots,
  close: closeFd,
  unlink: unlinkPath,
});
