import assert from "node:assert/strict";
import { AF_INET, SOCK_STREAM } from "./constants.ts";
import { check, ErrnoError } from "./errno.ts";
import { isCloseOnExec, setCloseOnExec } from "./close_on_exec.ts";
import { libc } from "./libc.ts";

Deno.test("setCloseOnExec() sets FD_CLOEXEC on an fd made without it", () => {
  const fd = check(libc().socket(AF_INET, SOCK_STREAM, 0), "socket");
  try {
    assert.equal(isCloseOnExec(fd), false);
    setCloseOnExec(fd);
    assert.equal(isCloseOnExec(fd), true);
    setCloseOnExec(fd); // idempotent
    assert.equal(isCloseOnExec(fd), true);
  } finally {
    libc().close(fd);
  }
});

Deno.test("setCloseOnExec() throws ErrnoError EBADF for an fd that is not open", () => {
  assert.throws(
    () => setCloseOnExec(0x3fff_ffff),
    (error: unknown) => error instanceof ErrnoError && error.code === "EBADF",
  );
  assert.throws(() => isCloseOnExec(-1), RangeError);
});
