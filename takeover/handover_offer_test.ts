import assert from "node:assert/strict";
import {
  describeBatch,
  type PausedConnection,
  type SentTally,
} from "./handover_offer.ts";
import { BATCH_TARGET_BYTES, type ConnectionRecord } from "./protocol.ts";

/** A paused connection whose record carries `unreadBytes` of base64. */
function paused(
  fd: number,
  unreadBytes: number,
  closed = false,
): PausedConnection {
  return {
    fd,
    describe(): ConnectionRecord | null {
      if (closed) return null;
      return {
        id: fd,
        local: "127.0.0.1:1",
        remote: "127.0.0.1:2",
        cookie: String(fd),
        unread: "A".repeat(unreadBytes),
        unsent: "",
        state: null,
        closing: false,
      };
    },
  };
}

function tally(): SentTally {
  return { batches: 0, connections: 0, unreadBytes: 0, unsentBytes: 0 };
}

Deno.test(`describeBatch() starts a new batch once the descriptions reach BATCH_TARGET_BYTES (${BATCH_TARGET_BYTES >> 20} MiB)`, () => {
  const big = Math.ceil(BATCH_TARGET_BYTES * 0.6);
  const pending = [paused(10, big), paused(11, big), paused(12, big)];
  const first = describeBatch(pending, 0, 253, tally());
  // 0.6 + 0.6 passes the target: the third waits for the next batch.
  assert.deepEqual(first.fds, [10, 11]);
  assert.equal(first.next, 2);
  const second = describeBatch(pending, first.next, 253, tally());
  assert.deepEqual(second.fds, [12]);
  assert.equal(second.next, 3);
});

Deno.test("describeBatch() sends one connection alone when it is larger than the target", () => {
  const pending = [paused(10, BATCH_TARGET_BYTES * 2), paused(11, 10)];
  const batch = describeBatch(pending, 0, 253, tally());
  assert.deepEqual(batch.fds, [10]);
});

Deno.test("describeBatch() takes at most `room` connections, and skips the ones that closed", () => {
  const pending = [
    paused(10, 5),
    paused(11, 5, true),
    paused(12, 5),
    paused(13, 5),
  ];
  const sent = tally();
  const batch = describeBatch(pending, 0, 2, sent);
  assert.deepEqual(batch.fds, [10, 12]);
  assert.equal(batch.next, 3);
  assert.equal(batch.records.length, 2);
  assert.ok(sent.unreadBytes > 0);
  assert.deepEqual(describeBatch(pending, 0, 0, tally()).fds, []);
});
