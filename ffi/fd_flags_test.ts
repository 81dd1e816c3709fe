import assert from "node:assert/strict";
import { AF_INET, F_SETFL, SOCK_CLOEXEC, SOCK_STREAM } from "./constants.ts";
import { check, ErrnoError } from "./errno.ts";
import { isNonBlocking, setNonBlocking } from "./fd_flags.ts";
import { libc } from "./libc.ts";
import { closeFd } from "./raw_socket.ts";

Deno.test("setNonBlocking() sets O_NONBLOCK on a blocking fd, and leaves a set one alone", () => {
  const fd = check(
    libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    assert.equal(isNonBlocking(fd), false);
    setNonBlocking(fd);
    assert.equal(isNonBlocking(fd), true);
    setNonBlocking(fd);
    assert.equal(isNonBlocking(fd), true);
    // Back to blocking: the flag is the fd's, not a cached value.
    check(libc().fcntl(fd, F_SETFL, 0), "fcntl");
    assert.equal(isNonBlocking(fd), false);
  } finally {
    closeFd(fd);
  }
});

Deno.test("setNonBlocking() throws ErrnoError for an fd that is not open", () => {
  // Far above any fd table: a number just closed could be reused at once
  // by another thread of the runtime.
  const fd = 0x7fff_fff0;
  assert.throws(
    () => setNonBlocking(fd),
    (error: unknown) => error instanceof ErrnoError && error.code === "EBADF",
  );
});
