import assert from "node:assert/strict";
import { reserveFdSlots } from "./fd_table.ts";
import { libc } from "./libc.ts";

Deno.test("reserveFdSlots() makes room and leaves no fd behind", () => {
  const probe = libc().eventfd(0, 0);
  try {
    const room = reserveFdSlots(probe, 500);
    assert.ok(room >= 500);
    // The lowest free fd is unchanged: the copies were closed.
    const next = libc().eventfd(0, 0);
    assert.ok(next <= probe + 1, `fd ${next} after ${probe}`);
    libc().close(next);
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
