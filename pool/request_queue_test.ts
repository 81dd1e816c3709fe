import assert from "node:assert/strict";
import { RequestQueue } from "./request_queue.ts";

Deno.test("RequestQueue gives items back first in, first out", () => {
  using queue = new RequestQueue<number>(10_000, () => {
    throw new Error("nothing should expire");
  });
  for (let i = 0; i < 5; i++) queue.push(i);
  assert.equal(queue.length, 5);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => queue.shift()), [0, 1, 2, 3, 4]);
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.length, 0);
});

Deno.test("RequestQueue expires items in order once their time is up", async () => {
  const expired: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  using queue = new RequestQueue<string>(30, (item) => {
    expired.push(item);
    if (expired.length === 2) resolve();
  });
  const started = performance.now();
  queue.push("a");
  queue.push("b");
  await promise;
  assert.ok(performance.now() - started >= 29);
  assert.deepEqual(expired, ["a", "b"]);
  assert.equal(queue.length, 0);
});

Deno.test("RequestQueue re-arms for a newer head after the old one left", async () => {
  const expired: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  using queue = new RequestQueue<string>(40, (item) => {
    expired.push(item);
    resolve();
  });
  queue.push("first");
  await new Promise((r) => setTimeout(r, 20));
  queue.push("second");
  assert.equal(queue.shift(), "first");
  const before = performance.now();
  await promise;
  // "second" joined 20 ms in: it expires about 40 ms after that, not at 40.
  assert.ok(performance.now() - before >= 15, "expired too early");
  assert.deepEqual(expired, ["second"]);
});

Deno.test("RequestQueue with timeout 0 expires on the next turn", async () => {
  const { promise, resolve } = Promise.withResolvers<number>();
  using queue = new RequestQueue<number>(0, resolve);
  queue.push(7);
  assert.equal(queue.length, 1, "still there synchronously");
  assert.equal(await promise, 7);
});

Deno.test("RequestQueue.drain() takes every item and stops the timer", () => {
  const queue = new RequestQueue<number>(50, () => {
    throw new Error("drained items must not expire");
  });
  queue.push(1);
  queue.push(2);
  assert.deepEqual(queue.drain(), [1, 2]);
  queue.close();
  queue.close();
  assert.throws(() => queue.push(3), TypeError);
});

Deno.test("RequestQueue stays compact over many items", () => {
  using queue = new RequestQueue<number>(60_000, () => {});
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 3000; i++) queue.push(i);
    for (let i = 0; i < 2999; i++) queue.shift();
    assert.equal(queue.length, 1 + round);
  }
  assert.equal(queue.drain().length, 10);
});

Deno.test("RequestQueue rejects a bad timeout", () => {
  assert.throws(() => new RequestQueue(-1, () => {}), RangeError);
  assert.throws(() => new RequestQueue(NaN, () => {}), RangeError);
});
