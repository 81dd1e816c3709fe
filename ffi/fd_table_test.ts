import assert from "node:assert/strict";
import { AF_INET, SOCK_CLOEXEC, SOCK_STREAM } from "./constants.ts";
import { check } from "./errno.ts";
import { reserveFdSlots } from "./fd_table.ts";
import { libc } from "./libc.ts";
import { getSocketCookie } from "./socket_options.ts";

/** How many open fds refer to the socket with this cookie (dups share it). */
function copiesOf(cookie: bigint, limit: number): number {
  let copies = 0;
  for (let fd = 0; fd < limit; fd++) {
    try {
      if (getSocketCookie(fd) === cookie) copies++;
    } catch {
      // Not a socket, or not open.
    }
  }
  return copies;
}

Deno.test("reserveFdSlots() makes room and leaves no fd behind", () => {
  // A socket, not an eventfd: its SO_COOKIE tells its copies from every
  // other fd, whatever parallel tests open meanwhile.
  const probe = check(
    libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    const cookie = getSocketCookie(probe);
    const room = reserveFdSlots(probe, 500);
    assert.ok(room >= 500);
    assert.equal(copiesOf(cookie, probe + 2000), 1, "only the probe itself");
  } finally {
    libc().close(probe);
  }
});

Deno.test("reserveFdSlots() refuses more fds than RLIMIT_NOFILE allows", () => {
  const probe = libc().eventfd(0, 0);
  try {
    assert.throws(() => reserveFdSlots(probe, 2 ** 31), RangeError);
    assert.throws(() => reserveFdSlots(probe, 0), RangeError);
  } finally {
    libc().close(probe);
  }
});
