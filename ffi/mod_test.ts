import assert from "node:assert/strict";
import * as ffi from "./mod.ts";

Deno.test("mod.ts exports exactly the public ffi API", () => {
  assert.deepEqual(Object.keys(ffi).sort(), [
    "DEFAULT_LIBC_PATH",
    "ERRNO_CODES",
    "ErrnoError",
    "EventLoopTurn",
    "LIBC_PATH_ENV",
    "LIBC_SYMBOLS",
    "MAX_FDS_PER_MESSAGE",
    "PortReservation",
    "Reactor",
    "SharedMemory",
    "UNKNOWN_ERRNO_CODE",
    "acceptSocket",
    "check",
    "closeFd",
    "closeWithReset",
    "connectUnix",
    "constants",
    "decodeSockaddr",
    "encodeSockaddr",
    "encodeSockaddrUn",
    "epollFds",
    "epollFdsWatching",
    "errno",
    "errnoCode",
    "errnoError",
    "formatIp",
    "fromNetAddr",
    "getLinger",
    "getPeerCredentials",
    "getPeerName",
    "getServiceByName",
    "getSockName",
    "getSocketCookie",
    "getSocketOption",
    "layout",
    "libc",
    "listenTcp",
    "listenUnix",
    "normalizeAddress",
    "parseIp",
    "readSocket",
    "receiveWithFds",
    "reserveFdSlots",
    "sameAddress",
    "sendSocket",
    "sendWithFds",
    "setLinger",
    "setSocketOption",
    "socketCookies",
    "socketFdOf",
    "unlinkPath",
  ]);
});

Deno.test("mod.ts exposes constants and layout as namespaces", () => {
  assert.equal(ffi.constants.SO_COOKIE, 57);
  assert.equal(ffi.layout.MSGHDR.size, 56);
  assert.equal(ffi.layout.htons(80), 20480);
});
