import assert from "node:assert/strict";
import * as ffi from "./mod.ts";

Deno.test("mod.ts exports exactly the public ffi API", () => {
  assert.deepEqual(Object.keys(ffi).sort(), [
    "DEFAULT_LIBC_PATH",
    "ERRNO_CODES",
    "ErrnoError",
    "LIBC_PATH_ENV",
    "LIBC_SYMBOLS",
    "PortReservation",
    "SharedMemory",
    "UNKNOWN_ERRNO_CODE",
    "check",
    "closeWithReset",
    "constants",
    "decodeSockaddr",
    "encodeSockaddr",
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
    "normalizeAddress",
    "parseIp",
    "sameAddress",
    "setLinger",
    "setSocketOption",
    "socketFdOf",
  ]);
});

Deno.test("mod.ts exposes constants and layout as namespaces", () => {
  assert.equal(ffi.constants.SO_COOKIE, 57);
  assert.equal(ffi.layout.MSGHDR.size, 56);
  assert.equal(ffi.layout.htons(80), 20480);
});
