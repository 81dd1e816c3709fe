import assert from "node:assert/strict";
import {
  formatDaemonTable,
  formatStatistics,
  Statistics,
  takeSnapshot,
  writeJsonFile,
} from "./statistics.ts";
import type { PoolCounters } from "./statistics.ts";

const POOL: PoolCounters = {
  queued: 0,
  inFlight: 5,
  spawns: 741,
  deaths: 3,
  busyKills: 2,
  retiring: 0,
  states: { AVAILABLE: 27, BUSY: 5, SPAWNING: 0, STARTING: 0 },
};

Deno.test("formatStatistics() writes the original's block byte for byte", () => {
  const stats = new Statistics();
  stats.total = 855997;
  stats.replied = 855992;
  stats.delayed = 24740;
  stats.timeout = 1085;
  stats.failed = 5;
  stats.unknown = 0;
  stats.latency.splice(0, 6, 657411, 179397, 16034, 1810, 492, 343);
  const snapshot = takeSnapshot(stats, POOL, { version: "1.1b103" });
  snapshot.uptimeSeconds = 7916;
  assert.equal(
    formatStatistics(snapshot),
    " --- statistics ---- >8 -------\n" +
      "queries total      855997\n" +
      "queries replied    855992\n" +
      "queries delayed    24740\n" +
      "queries timeout    1085\n" +
      "queries failed     5\n" +
      "queries unknown    0\n" +
      "queries 0-100      657411\n" +
      "queries 100-250    179397\n" +
      "queries 250-500    16034\n" +
      "queries 500-750    1810\n" +
      "queries 750-1000   492\n" +
      "queries 1000-      343\n" +
      "daemon spawns      741\n" +
      "daemon S_AVAILABLE 27\n" +
      "daemon S_BUSY      5\n" +
      "daemon S_SPAWNING  0\n" +
      "daemon S_STARTING  0\n" +
      "uptime   7916\n" +
      "version  1.1b103\n" +
      " --- statistics ---- 8< -------\n",
  );
});

Deno.test("Statistics.recordReply() fills the buckets at their boundaries", () => {
  const stats = new Statistics();
  for (
    const ms of [0, 99.9, 100, 249, 250, 499, 500, 749, 750, 999.5, 1000, 60000]
  ) {
    stats.recordReply(ms);
  }
  assert.deepEqual(stats.latency, [2, 2, 2, 2, 2, 2]);
  assert.equal(stats.replied, 12);
});

Deno.test("Statistics counts timeouts and failures apart, by cause", () => {
  const stats = new Statistics();
  for (let i = 0; i < 6; i++) stats.recordRequest(i % 2 === 0);
  stats.recordFailure("queue-timeout");
  stats.recordFailure("busy-timeout");
  stats.recordFailure("daemon-died");
  stats.recordFailure("line-too-long");
  stats.recordFailure("reply-too-long");
  stats.recordReply(3);
  assert.equal(stats.total, 6);
  assert.equal(stats.delayed, 3);
  assert.equal(stats.timeout, 2);
  assert.equal(stats.failed, 3);
  assert.equal(stats.total, stats.replied + stats.timeout + stats.failed);
  assert.equal(stats.failures["busy-timeout"], 1);
  assert.equal(stats.failures.closed, 0);
});

Deno.test("takeSnapshot() carries the gauges and copies the counters", () => {
  const stats = new Statistics();
  stats.recordRequest(true);
  const snapshot = takeSnapshot(stats, { ...POOL, queued: 1, inFlight: 0 }, {
    version: "x",
    refusedConnections: 4,
  });
  stats.recordFailure("queue-timeout");
  assert.equal(snapshot.queries.total, 1);
  assert.equal(snapshot.queries.timeout, 0, "a copy, not a view");
  assert.equal(snapshot.queries.queued, 1);
  assert.equal(snapshot.refusedConnections, 4);
  assert.equal(snapshot.latencyMs["1000-"], 0);
  assert.equal(snapshot.daemons.states.AVAILABLE, 27);
});

Deno.test("formatDaemonTable() lists every slot between markers", () => {
  const text = formatDaemonTable([
    {
      slot: 0,
      pid: 1234,
      state: "BUSY",
      requests: 10,
      replies: 9,
      failures: 0,
      spawns: 1,
      kills: 0,
      stray: 0,
      busyMs: 1520.4,
      ageMs: 65000,
    },
    {
      slot: 1,
      pid: null,
      state: "SPAWNING",
      requests: 3,
      replies: 1,
      failures: 2,
      spawns: 3,
      kills: 1,
      stray: 0,
      busyMs: null,
      ageMs: null,
    },
  ], [99]);
  const lines = text.split("\n");
  assert.equal(lines[0], " --- daemons ---- >8 -------");
  assert.match(lines[1]!, /^daemon +pid +state +requests +replies +failures/);
  assert.match(lines[2]!, /^d\[0\] +1234 +S_BUSY +10 +9 +0 +1 +0 +1520 +65$/);
  assert.match(lines[3]!, /^d\[1\] +- +S_SPAWNING +3 +1 +2 +3 +1 +- +-$/);
  assert.equal(lines[4], "retiring 1 (pids 99)");
  assert.equal(lines[5], " --- daemons ---- 8< -------");
});

Deno.test("writeJsonFile() replaces the file whole, leaving no temporary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "iotcpd_stats_" });
  try {
    const path = `${dir}/stats.json`;
    await writeJsonFile(path, { a: 1 });
    await writeJsonFile(path, { a: 2 });
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), { a: 2 });
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["stats.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeJsonFile() twice at once leaves one whole document, never a mix", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_stats_" });
  try {
    const path = `${dir}/stats.json`;
    const long = { which: "long", filler: "x".repeat(100_000) };
    const short = { which: "short" };
    for (let round = 0; round < 20; round++) {
      await Promise.all([
        writeJsonFile(path, long),
        writeJsonFile(path, short),
      ]);
      const parsed = JSON.parse(await Deno.readTextFile(path));
      assert.ok(["long", "short"].includes(parsed.which), `round ${round}`);
    }
    // No temporary file is left behind.
    const left = await Array.fromAsync(Deno.readDir(dir));
    assert.deepEqual(left.map((e) => e.name), ["stats.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
