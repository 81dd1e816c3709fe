import assert from "node:assert/strict";
import { burnCpu } from "./cpu_loop.ts";

Deno.test("burnCpu() runs the loop for the time asked, measured in the worker", async () => {
  const seconds = await burnCpu(0.2);
  assert.ok(seconds >= 0.2 && seconds < 1, `${seconds} s`);
});

Deno.test("burnCpu() ends early on abort", async () => {
  const abort = new AbortController();
  const running = burnCpu(30, abort.signal);
  abort.abort();
  const seconds = await running;
  assert.ok(seconds < 5, `${seconds} s`);
});

Deno.test("burnCpu() rejects a negative or NaN duration", () => {
  assert.throws(() => burnCpu(-1), RangeError);
  assert.throws(() => burnCpu(NaN), RangeError);
});
