import assert from "node:assert/strict";
import { EAGAIN, EBADF, EPIPE } from "./errno.ts";
import { closeFd } from "./raw_socket.ts";
import { tryRead, trySend } from "./socket_io_attempt.ts";
import { unixSocketPair } from "./unix_socket_pair.ts";

/** An fd number far above any fd table: never open (see errno_test). */
const NEVER_OPEN_FD = 0x7fff_fff0;

Deno.test("tryRead() and trySend() move bytes and report EAGAIN as -EAGAIN", () => {
  const [a, b] = unixSocketPair();
  try {
    const buffer = new Uint8Array(16);
    assert.equal(tryRead(a, buffer), -EAGAIN);
    assert.equal(trySend(b, new Uint8Array([1, 2, 3, 4]), 3), 3);
    assert.equal(tryRead(a, buffer), 3);
    assert.deepEqual([...buffer.subarray(0, 3)], [1, 2, 3]);
    assert.equal(trySend(b, new Uint8Array([5, 6])), 2);
    assert.equal(tryRead(a, buffer), 2);
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

Deno.test("tryRead() returns 0 at EOF and trySend() -EPIPE once the peer is gone", () => {
  const [a, b] = unixSocketPair();
  try {
    closeFd(b);
    assert.equal(tryRead(a, new Uint8Array(4)), 0);
    assert.equal(trySend(a, new Uint8Array(1)), -EPIPE);
  } finally {
    closeFd(a);
  }
});

Deno.test("tryRead() and trySend() return -EBADF for an fd that is not open", () => {
  assert.equal(tryRead(NEVER_OPEN_FD, new Uint8Array(1)), -EBADF);
  assert.equal(trySend(NEVER_OPEN_FD, new Uint8Array(1)), -EBADF);
});
