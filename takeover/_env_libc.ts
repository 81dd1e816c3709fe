/**
 * The real {@linkcode TakeoverEnv}: libc through `ffi/`.
 *
 * @module
 */

import {
  acceptSocket,
  closeFd,
  connectUnix,
  effectiveUid,
  getPeerCredentials,
  listenUnix,
  receiveWithFds,
  reserveFdSlots,
  sendWithFds,
  setNonBlocking,
  socketCookies,
  socketKinds,
  unlinkPath,
} from "../ffi/mod.ts";
import { duplicateFd } from "../ffi/fd_duplicate.ts";
import type { PeerIdentity, TakeoverEnv } from "./takeover_env.ts";

/** The environment takeovers use unless told otherwise. */
export const LIBC_ENV: TakeoverEnv = Object.freeze({
  pid: () => Deno.pid,
  uid: effectiveUid,
  listenUnix: (
    path: string,
    mode: number,
    replaceLive?: (peer: PeerIdentity | null) => boolean,
  ) =>
    listenUnix(path, {
      mode,
      ...(replaceLive === undefined ? {} : { replaceLive }),
    }),
  connectUnix,
  // accept4() works the same on Unix listeners.
  acceptUnix: acceptSocket,
  peerCredentials: getPeerCredentials,
  send: sendWithFds,
  receive: receiveWithFds,
  socketCookies,
  socketKinds,
  setNonBlocking,
  reserveFdSlots,
  duplicateFd,
  close: closeFd,
  unlink: unlinkPath,
});
