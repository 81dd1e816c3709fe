import assert from "node:assert/strict";
import { AF_INET, SOCK_CLOEXEC, SOCK_STREAM } from "./constants.ts";
import { check, ErrnoError } from "./errno.ts";
import { duplicateFd } from "./fd_duplicate.ts";
import { libc } from "./libc.ts";
import { getSocketCookie } from "./socket_options.ts";

Deno.test("duplicateFd() makes a second fd for the same socket; closing it leaves the first open", () => {
  const probe = check(
    libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    const copy = duplicateFd(probe);
    assert.notEqual(copy, probe);
    assert.equal(getSocketCookie(copy), getSocketCookie(probe));
    libc().close(copy);
    assert.equal(typeof getSocketCookie(probe), "bigint");
  } finally {
    libc().close(probe);
  }
});

Deno.test("duplicateFd() throws ErrnoError EBADF for an fd that is not open", () => {
  // Far above the table: no other runtime thread can have opened it.
  assert.throws(
    () => duplicateFd(0x3fff_ffff),
    (error: unknown) => error instanceof ErrnoError && error.code === "EBADF",
  );
  assert.throws(() => duplicateFd(-1), RangeError);
});
