import assert from "node:assert/strict";
import type { ListeningServer } from "../net/listening_server.ts";
import { FaultSet } from "./fault_set.ts";
import { parseFaultSpec } from "./fault_spec.ts";
import { HealthState } from "./health_state.ts";
import { MasterMetrics, WorkerMetricsWriter } from "./worker_metrics.ts";

/** A stand-in engine: counts a test sets, and a finish it triggers. */
function fakeServer(): ListeningServer & {
  counts: { open: number; accepted: number; refused: number };
  finish(): void;
} {
  const done = Promise.withResolvers<void>();
  const counts = { open: 0, accepted: 0, refused: 0 };
  return {
    counts,
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    get connectionCount() {
      return counts.open;
    },
    get acceptedCount() {
      return counts.accepted;
    },
    get refusedCount() {
      return counts.refused;
    },
    retiring: false,
    finished: done.promise,
    shutdown: () => Promise.resolve(),
    finish: () => done.resolve(),
  };
}

function value(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("MasterMetrics sums what each worker writes in its slot", async () => {
  const state = new HealthState("GOOD");
  const master = new MasterMetrics(2, state, { commands: true, faults: true });
  const one = new WorkerMetricsWriter(master.path, 1, 2);
  const two = new WorkerMetricsWriter(master.path, 2, 2);
  const s1 = fakeServer();
  const s2 = fakeServer();
  const faults = new FaultSet();
  try {
    one.watch(s1, faults);
    two.watch(s2, undefined);
    one.command("getstatus");
    two.command("getstatus");
    two.command("setbad");
    two.command("no-such-command");
    one.loops(1, true);
    faults.add(parseFaultSpec("delay ms=1"));
    faults.noteApplied("delay");
    s1.counts.accepted = 3;
    s1.counts.open = 1;
    s2.counts.accepted = 4;
    s2.counts.refused = 2;
    state.set("BAD");
    // Connection counts are published on a timer: wait for it (bounded).
    let body = "";
    for (let i = 0; i < 100; i++) {
      body = master.registry.render();
      if (value(body, "tcpservd_connections_accepted_total") === 7) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(value(body, "tcpservd_connections_accepted_total"), 7);
    assert.equal(value(body, "tcpservd_connections_refused_total"), 2);
    assert.equal(value(body, "tcpservd_connections_open"), 1);
    assert.equal(
      value(body, 'tcpservd_commands_total{command="getstatus"}'),
      2,
    );
    assert.equal(value(body, 'tcpservd_commands_total{command="setbad"}'), 1);
    assert.equal(value(body, 'tcpservd_commands_total{command="other"}'), 1);
    assert.equal(value(body, "tcpservd_startloops_total"), 1);
    assert.equal(value(body, "tcpservd_startloops_running"), 1);
    assert.equal(
      value(body, 'tcpservd_faults_applied_total{fault="delay"}'),
      1,
    );
    assert.equal(value(body, 'tcpservd_faults_active{fault="delay"}'), 1);
    assert.equal(value(body, 'tcpservd_health{state="BAD"}'), 1);
    assert.equal(value(body, "tcpservd_workers"), 2);
    // Worker 1 exits; a new worker 1 continues its totals, the gauges restart.
    s1.finish();
    await s1.finished;
    master.workerExited(1);
    const again = new WorkerMetricsWriter(master.path, 1, 2);
    const s3 = fakeServer();
    try {
      s3.counts.accepted = 1;
      again.watch(s3, undefined);
      body = master.registry.render();
      assert.equal(value(body, "tcpservd_connections_accepted_total"), 8);
      assert.equal(value(body, "tcpservd_connections_open"), 0);
      assert.equal(value(body, "tcpservd_startloops_running"), 0);
      assert.equal(value(body, "tcpservd_startloops_total"), 1);
    } finally {
      s3.finish();
      await s3.finished;
    }
  } finally {
    s2.finish();
    await s2.finished;
    master.close();
  }
});

Deno.test("WorkerMetricsWriter refuses a worker id outside the region", () => {
  const master = new MasterMetrics(1, undefined, {
    commands: false,
    faults: false,
  });
  try {
    assert.throws(() => new WorkerMetricsWriter(master.path, 2, 1), RangeError);
    assert.doesNotMatch(master.registry.render(), /commands|faults|health/);
  } finally {
    master.close();
  }
});
