import assert from "node:assert/strict";
import { reserveFdSlots } from "./fd_table.ts";
import { libc } from "./libc.ts";

/** How many fds below `limit` are open (fcntl F_GETFD succeeds). */
function openFds(limit: number): number {
  let count = 0;
  for (let fd = 0; fd < limit; fd++) if (libc().fcntl(fd, 1, 0) >= 0) count++;
  return count;
}

Deno.test("reserveFdSlots() makes room and leaves no fd behind", () => {
  const probe = libc().eventfd(0, 0);
  try {
    const limit = probe + 2000;
    const before = openFds(limit);
    const room = reserveFdSlots(probe, 500);
    assert.ok(room >= 500);
    // Other threads of this process open and close fds too (parallel
    // tests), so allow some drift; 500 copies left behind would show.
    const after = openFds(limit);
    assert.ok(
      after - before < 100,
      `${before} fds open before, ${after} after`,
    );
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
