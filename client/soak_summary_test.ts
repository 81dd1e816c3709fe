import assert from "node:assert/strict";
import { EchoPayload, tcpservdPayload } from "./soak_payload.ts";
import { formatSummary, summarize } from "./soak_summary.ts";
import { SoakTimeline } from "./soak_timeline.ts";

const settings = {
  hostname: "::1",
  port: 1971,
  conns: 2,
  rate: 100,
  connectRate: 0,
  timeoutMs: 500,
  durationMs: 1000,
  byNode: false,
};
const noFaults = { corrupt: 0, duplicate: 0, reordered: 0, unexpected: 0 };

Deno.test("summarize() totals a clean run: exit 0, latency from the histogram", () => {
  const timeline = new SoakTimeline();
  for (let i = 0; i < 100; i++) {
    timeline.count("sent", i * 10);
    timeline.answer(i * 10 + 1, 1 + i / 100);
  }
  timeline.finish(1000);
  const s = summarize(
    {
      payload: new EchoPayload(),
      timeline,
      faults: noFaults,
      t0: 0,
      startedAt: Date.UTC(2026, 0, 1),
      elapsedMs: 1000.04,
      messages: 100,
    },
    settings,
    null,
  );
  assert.equal(s.target, "[::1]:1971");
  assert.equal(s.mode, "echo");
  assert.equal(s.lostMessages, 0);
  assert.equal(s.failedConnections, 0);
  assert.equal(s.exitCode, 0);
  assert.equal(s.startedAt, "2026-01-01T00:00:00.000Z");
  assert.equal(s.elapsedMs, 1000);
  assert.equal(s.latencyMs.min, 1);
  assert.equal(s.latencyMs.max, 1.99);
  assert.equal(s.histogram.reduce((n, b) => n + b.count, 0), 100);
  assert.equal(s.nodes, null);
  const text = formatSummary(s);
  assert.match(
    text,
    /^tcpcli soak \[::1\]:1971 \(echo\): 2 connections, 100 messages\/s, 100 messages over 1\.0 s\n/,
  );
  assert.match(text, /\n {2}sent 100, answered 100 in 1\.00 s \(100\/s\)\n/);
  assert.match(text, /\n {2}result: nothing lost \(exit 0\)\n$/);
});

Deno.test("summarize() and formatSummary() show losses, the window and the nodes", () => {
  const timeline = new SoakTimeline(true);
  timeline.answer(10, 1, "node1");
  timeline.answer(20, 1, "node2");
  timeline.window = { start: 100, end: undefined };
  timeline.count("reset", 150);
  timeline.answer(160, 1, "node2");
  timeline.window.end = 300;
  timeline.count("timeout", 250, 2);
  timeline.answer(900, 1, "node1");
  timeline.finish(1000);
  const s = summarize(
    {
      payload: tcpservdPayload(true),
      timeline,
      faults: { ...noFaults, reordered: 1 },
      t0: 0,
      startedAt: 0,
      elapsedMs: 1000,
      messages: 6,
    },
    { ...settings, hostname: "lb1", byNode: true },
    {
      command: "systemctl reload haproxy",
      startMs: 100,
      endMs: 300,
      exitCode: 0,
    },
  );
  assert.equal(s.lostMessages, 2);
  assert.equal(s.failedConnections, 1);
  assert.equal(s.exitCode, 1);
  assert.equal(s.during?.phases.during.timeout, 2);
  assert.deepEqual(s.nodes, [
    { node: "node1", answers: 2, firstMs: 10, lastMs: 900 },
    { node: "node2", answers: 2, firstMs: 20, lastMs: 160 },
  ]);
  const text = formatSummary(s);
  assert.match(text, /messages: timed out 2, lost 0, wrong 0 \(reordered 1\)/);
  assert.match(
    text,
    /during "systemctl reload haproxy": from 0\.10 s to 0\.30 s \(exit 0\)/,
  );
  assert.match(text, /\n {4}during +0 +1 +0 +1 +2 +0 +0\n/);
  assert.match(
    text,
    /node2 +2 replies, first 0\.02 s, last 0\.16 s \(0\.06 s after --during started\)/,
  );
  assert.match(
    text,
    /result: LOST 2 messages \(timed out 2, lost 0, wrong 0\); 1 connection failed \(refused 0, reset 1\) \(exit 1\)/,
  );
});

/** A summary of `timeline` with the test's settings. */
function summaryOf(timeline: SoakTimeline, messages: number) {
  timeline.finish(1000);
  return summarize(
    {
      payload: new EchoPayload(),
      timeline,
      faults: noFaults,
      t0: 0,
      startedAt: 0,
      elapsedMs: 1000,
      messages,
    },
    settings,
    null,
  );
}

Deno.test("the headline counts lost messages apart from failed connections", () => {
  // 10 messages lost on 10 connections that were reset, and 10 refusals.
  const timeline = new SoakTimeline();
  timeline.count("lost", 100, 10);
  timeline.count("reset", 100, 10);
  timeline.count("refused", 200, 10);
  const s = summaryOf(timeline, 10);
  assert.equal(s.lostMessages, 10);
  assert.equal(s.failedConnections, 20);
  assert.equal(s.exitCode, 1);
  assert.match(
    formatSummary(s),
    /\n {2}result: LOST 10 messages \(timed out 0, lost 10, wrong 0\); 20 connections failed \(refused 10, reset 10\) \(exit 1\)\n$/,
  );
  // Connections only: nothing was lost, and the exit code is still 1.
  const refusedOnly = new SoakTimeline();
  refusedOnly.count("refused", 100, 3);
  const r = summaryOf(refusedOnly, 10);
  assert.equal(r.lostMessages, 0);
  assert.equal(r.exitCode, 1);
  assert.match(
    formatSummary(r),
    /result: no message lost; 3 connections failed \(refused 3, reset 0\) \(exit 1\)/,
  );
  const oneLost = new SoakTimeline();
  oneLost.count("timeout", 100);
  assert.match(
    formatSummary(summaryOf(oneLost, 10)),
    /result: LOST 1 message \(timed out 1, lost 0, wrong 0\); no connection failed \(exit 1\)/,
  );
});
