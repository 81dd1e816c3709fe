import assert from "node:assert/strict";
import { SHUT_WR } from "./constants.ts";
import { ErrnoError } from "./errno.ts";
import { closeFd, readSocket } from "./raw_socket.ts";
import { shutdownSocket } from "./shutdown_socket.ts";
import { unixSocketPair } from "./unix_socket_pair.ts";

Deno.test("shutdownSocket(fd, SHUT_WR) makes the peer read EOF", () => {
  const [a, b] = unixSocketPair();
  try {
    shutdownSocket(a, SHUT_WR);
    assert.equal(readSocket(b, new Uint8Array(4)), 0);
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

Deno.test("shutdownSocket() throws ErrnoError EBADF for an fd that is not open", () => {
  assert.throws(
    () => shutdownSocket(0x3fff_ffff, SHUT_WR),
    (error: unknown) => error instanceof ErrnoError && error.code === "EBADF",
  );
  assert.throws(() => shutdownSocket(-1, SHUT_WR), RangeError);
});
