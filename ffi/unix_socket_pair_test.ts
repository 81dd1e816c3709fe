import assert from "node:assert/strict";
import { isNonBlocking } from "./fd_flags.ts";
import { closeFd, readSocket, sendSocket } from "./raw_socket.ts";
import { unixSocketPair } from "./unix_socket_pair.ts";

Deno.test("unixSocketPair() connects two non-blocking ends", () => {
  const [a, b] = unixSocketPair();
  try {
    assert.notEqual(a, b);
    assert.ok(isNonBlocking(a));
    assert.ok(isNonBlocking(b));
    assert.equal(sendSocket(a, new Uint8Array([7])), 1);
    const buffer = new Uint8Array(4);
    assert.equal(readSocket(b, buffer), 1);
    assert.equal(buffer[0], 7);
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

Deno.test("unixSocketPair({ nonBlocking: false }) makes blocking ends", () => {
  const [a, b] = unixSocketPair({ nonBlocking: false });
  try {
    assert.equal(isNonBlocking(a), false);
    assert.equal(isNonBlocking(b), false);
  } finally {
    closeFd(a);
    closeFd(b);
  }
});
