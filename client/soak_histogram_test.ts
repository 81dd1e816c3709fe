import assert from "node:assert/strict";
import {
  bucketHigh,
  bucketLow,
  bucketOf,
  LatencyHistogram,
  MAX_TRACKABLE_US,
} from "./soak_histogram.ts";

Deno.test("bucketOf() is exact below 128 and within 1/64 above", () => {
  for (let v = 0; v < 128; v++) assert.equal(bucketOf(v), v);
  for (
    const v of [128, 129, 255, 256, 1000, 65_537, 10_000_000, MAX_TRACKABLE_US]
  ) {
    const i = bucketOf(v);
    assert.ok(bucketLow(i) <= v && v <= bucketHigh(i), `${v} in bucket ${i}`);
    assert.ok((bucketHigh(i) - bucketLow(i)) / bucketLow(i) < 1 / 64 + 1e-9);
  }
});

Deno.test("bucketOf() is monotonic and its buckets tile the range", () => {
  let last = -1;
  for (let v = 0; v < 1 << 16; v++) {
    const i = bucketOf(v);
    assert.ok(i === last || i === last + 1, `gap at ${v}`);
    if (i !== last) assert.equal(bucketLow(i), v);
    last = i;
  }
});

Deno.test("LatencyHistogram percentiles, max, min and mean", () => {
  const h = new LatencyHistogram();
  assert.equal(h.percentile(50), 0);
  for (let v = 1; v <= 100; v++) h.record(v * 1000);
  assert.equal(h.count, 100);
  assert.equal(h.max, 100_000);
  assert.equal(h.min, 1000);
  assert.equal(h.mean, 50_500);
  const p50 = h.percentile(50);
  assert.ok(p50 >= 50_000 && p50 <= 50_000 * (1 + 1 / 64), String(p50));
  const p99 = h.percentile(99);
  assert.ok(p99 >= 99_000 && p99 <= 99_000 * (1 + 1 / 64), String(p99));
  assert.equal(h.percentile(100), 100_000);
});

Deno.test("LatencyHistogram clamps negative and huge values, and clears", () => {
  const h = new LatencyHistogram();
  h.record(-5);
  h.record(1e12);
  assert.equal(h.min, 0);
  assert.equal(h.max, MAX_TRACKABLE_US);
  h.clear();
  assert.equal(h.count, 0);
  assert.equal(h.max, 0);
  assert.deepEqual(h.buckets(), []);
});

Deno.test("LatencyHistogram buckets() add up to the count", () => {
  const h = new LatencyHistogram();
  for (const v of [0, 3, 500, 1500, 1501, 40_000]) h.record(v);
  const buckets = h.buckets();
  assert.equal(buckets.reduce((n, b) => n + b.count, 0), 6);
  assert.deepEqual(buckets[0], { fromUs: 0, toUs: 0, count: 1 });
  assert.ok(buckets.every((b) => b.fromUs <= b.toUs));
});
