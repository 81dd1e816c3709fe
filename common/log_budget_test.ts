import assert from "node:assert/strict";
import { LogBudget } from "./log_budget.ts";

Deno.test("LogBudget lets N lines per window through and counts the rest", () => {
  const budget = new LogBudget({ lines: 3, windowMs: 1000 });
  const taken = Array.from({ length: 10 }, () => budget.take("k", 0));
  assert.deepEqual(taken, [0, 0, 0, ...Array(7).fill(undefined)]);
  // Another key has its own budget.
  assert.equal(budget.take("other", 0), 0);
  // The next window: the first line carries the count of the suppressed.
  assert.equal(budget.take("k", 1000), 7);
  assert.equal(budget.take("k", 1001), 0);
});

Deno.test("LogBudget bounds a flood of 100,000 lines to the budget", () => {
  const budget = new LogBudget({ lines: 10, windowMs: 1000 });
  let logged = 0;
  // 100,000 lines spread over 2 s.
  for (let i = 0; i < 100_000; i++) {
    if (budget.take("state", i / 50) !== undefined) logged++;
  }
  assert.equal(logged, 20);
});

Deno.test("LogBudget.tail() says how many lines were suppressed", () => {
  const budget = new LogBudget({ lines: 1, windowMs: 60_000 });
  assert.equal(budget.tail("k"), "");
  assert.equal(budget.tail("k"), undefined);
});
