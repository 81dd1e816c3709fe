import assert from "node:assert/strict";
import {
  failedConnectionsOf,
  failuresOf,
  lostMessagesOf,
  MAX_NODES,
  OTHER_NODE,
  SoakTimeline,
  STEP_MS,
} from "./soak_timeline.ts";

Deno.test("SoakTimeline puts events in 100 ms steps and totals them", () => {
  const tl = new SoakTimeline();
  tl.count("sent", 5);
  tl.count("sent", 99);
  tl.answer(20, 2);
  tl.answer(50, 4);
  tl.count("refused", 250);
  tl.count("timeout", 120, 3);
  tl.answer(310, 10);
  tl.finish(450);
  assert.equal(STEP_MS, 100);
  assert.equal(tl.steps.length, 5);
  assert.deepEqual(tl.steps.map((s) => s.t), [0, 100, 200, 300, 400]);
  assert.equal(tl.steps[0]!.sent, 2);
  assert.equal(tl.steps[0]!.answered, 2);
  assert.equal(tl.steps[0]!.max, 4);
  assert.ok(tl.steps[0]!.p50 >= 2 && tl.steps[0]!.p50 < 2.1);
  assert.equal(tl.steps[1]!.timeout, 3);
  assert.equal(tl.steps[2]!.refused, 1);
  assert.equal(tl.steps[3]!.p99, 10);
  assert.equal(tl.steps[4]!.answered, 0);
  assert.equal(tl.totals.sent, 2);
  assert.equal(tl.totals.answered, 3);
  assert.equal(failuresOf(tl.totals), 4);
  assert.equal(failedConnectionsOf(tl.totals), 1);
  assert.equal(lostMessagesOf(tl.totals), 3);
  assert.equal(tl.histogram.count, 3);
});

Deno.test("SoakTimeline counts answers per node with first and last times", () => {
  const tl = new SoakTimeline(true);
  tl.answer(10, 1, "a");
  tl.answer(150, 1, "b");
  tl.answer(160, 1, "a");
  tl.answer(420, 1, "b");
  tl.finish(500);
  assert.deepEqual(tl.steps[1]!.nodes, { a: 1, b: 1 });
  assert.deepEqual(tl.nodes.get("a"), { answers: 2, first: 10, last: 160 });
  assert.deepEqual(tl.nodes.get("b"), { answers: 2, first: 150, last: 420 });
});

Deno.test("SoakTimeline attributes events to before, during and after the window", () => {
  const tl = new SoakTimeline();
  tl.count("refused", 50);
  tl.window = { start: 100, end: undefined };
  tl.count("reset", 150);
  tl.answer(160, 1);
  tl.window.end = 300;
  tl.count("timeout", 299);
  tl.count("timeout", 300);
  tl.count("lost", 20);
  assert.equal(tl.phases.before.refused, 1);
  assert.equal(tl.phases.before.lost, 1);
  assert.equal(tl.phases.during.reset, 1);
  assert.equal(tl.phases.during.answered, 1);
  assert.equal(tl.phases.during.timeout, 1);
  assert.equal(tl.phases.after.timeout, 1);
  assert.equal(tl.phaseOf(99), "before");
});

Deno.test("SoakTimeline counts at most MAX_NODES nodes by name, the rest as (other), and says so once", () => {
  const overflows: string[] = [];
  const tl = new SoakTimeline(true, (node) => overflows.push(node));
  // A server naming a new node in every reply, over 10 steps.
  const replies = 5000;
  for (let i = 0; i < replies; i++) {
    tl.answer(i / 5, 1, `node-${i}-${"x".repeat(200)}`);
  }
  tl.answer(1000, 1, `node-0-${"x".repeat(200)}`);
  tl.finish(1000);
  assert.equal(MAX_NODES, 64);
  assert.equal(tl.nodes.size, MAX_NODES + 1);
  assert.equal(tl.nodes.get(OTHER_NODE)?.answers, replies - MAX_NODES);
  assert.equal(tl.nodes.get(`node-0-${"x".repeat(200)}`)?.answers, 2);
  assert.deepEqual(overflows, [`node-${MAX_NODES}-${"x".repeat(200)}`]);
  for (const step of tl.steps) {
    assert.ok(Object.keys(step.nodes!).length <= MAX_NODES + 1);
  }
  assert.equal(tl.steps[9]!.nodes![OTHER_NODE], 500);
  const total = tl.steps.reduce(
    (n, s) => n + Object.values(s.nodes!).reduce((a, b) => a + b, 0),
    0,
  );
  assert.equal(total, replies + 1);
  assert.ok(JSON.stringify(tl.steps).length < 200_000);
});
