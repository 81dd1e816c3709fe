import assert from "node:assert/strict";
import { SeededRandom } from "./seeded_random.ts";

Deno.test("SeededRandom repeats its sequence for one seed", () => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  const first = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(Array.from({ length: 100 }, () => b.next()), first);
  assert.ok(first.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => new SeededRandom(43).next()),
    first,
  );
});

Deno.test("SeededRandom.chance() follows p", () => {
  const random = new SeededRandom(1);
  const hits =
    Array.from({ length: 10000 }, () => random.chance(0.3)).filter(Boolean)
      .length;
  assert.ok(hits > 2700 && hits < 3300, `${hits} hits`);
  assert.equal(new SeededRandom(1).chance(0), false);
  assert.equal(new SeededRandom(1).chance(1), true);
});

Deno.test("SeededRandom.fill() gives the same bytes for one seed", () => {
  const a = new SeededRandom(5).fill(new Uint8Array(64));
  assert.deepEqual(new SeededRandom(5).fill(new Uint8Array(64)), a);
  assert.ok(new Set(a).size > 16);
});

Deno.test("SeededRandom without a seed draws one and reports it", () => {
  const random = new SeededRandom();
  assert.ok(Number.isInteger(random.seed) && random.seed >= 0);
  assert.equal(new SeededRandom(random.seed).next(), random.next());
});
