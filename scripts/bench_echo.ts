// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:echo`: echo throughput and CPU cost of `tcpservd --echo`
 * (default single worker, default epoll engine; `--server` with
 * `--engine deno` measures the Deno.listen one) against Node's `net` echo
 * (scripts/node_echo.mjs),
 * measured side by side, round after round, because these machines are
 * shared and noisy (DESIGN.md §6).
 *
 * Compiles scripts/echo_load.c (a single-threaded C epoll load generator,
 * TCP_NODELAY, echoed bytes verified) with `cc -O2` into a temp dir. Each
 * round starts both servers fresh, warms each up for 1 s, then runs every
 * scenario against every server back to back (alternating which goes first):
 * - pingpong-1:  1 conn, one 64-byte message in flight;
 * - pingpong-50: 50 conns, one 64-byte message in flight each;
 * - pipeline-50: 50 conns, up to 64 64-byte messages in flight each;
 * - stream-1:    1 conn, 64 KiB writes as fast as the socket takes them.
 *
 * Server CPU is utime+stime from /proc/PID/stat (all threads; descendants
 * too, if any) sampled just before and just after the load window: the load
 * generator connects first and waits for a go, and keeps its connections
 * open until the second sample. Reports per scenario and server the median
 * over rounds of msgs/s, MB/s (echoed bytes, 10^6), msgs and MB per server
 * CPU-second, server and load-generator CPU %, and the tcpservd/node ratio
 * of each median; then the targets, as that ratio of medians and as the
 * median of the per-round (paired) ratios. A load generator near 100 % CPU
 * means that figure is capped by the load generator, not the server. /proc
 * is read through `cat`: Deno 2 wants --allow-all to read /proc itself.
 *
 * Usage: deno task bench:echo [--rounds N] [--seconds S] [--scenario NAME]... [--json]
 *          [--server "CMD ARGS..."]
 *   --rounds   rounds (default 5, at most 50)
 *   --seconds  load window per run (default 3, at most 60)
 *   --scenario only this scenario (repeatable): pingpong-1, pingpong-50,
 *              pipeline-50, stream-1
 *   --json     human report on stderr, final medians as one JSON object on
 *              stdout
 *   --server   replaces the tcpservd side's command (split on whitespace; it
 *              must exec the server itself and print "listening on
 *              HOST:PORT" on stderr), e.g. "node scripts/node_echo.mjs";
 *              the TCPKIT_BENCH_ECHO_SERVER environment variable does the same
 *
 * Exits 1 if a run saw echo errors or connect failures, or a server died.
 */
import { parseArgs } from "node:util";
import {
  clockTicksPerSecond,
  compact,
  compileLoadGenerator,
  cpuTicks,
  interrupted,
  killServers,
  LineReader,
  machineLine,
  median,
  nodeSpec,
  numberFlag,
  onInterrupt,
  RunningServer,
  type ServerSpec,
  stopChild,
  table,
  tcpservdSpec,
  withTimeout,
} from "./echo_bench_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
    server: { type: "string" },
    scenario: { type: "string", multiple: true },
  },
});
const rounds = Math.round(numberFlag("rounds", values.rounds, 1, 50));
const seconds = numberFlag("seconds", values.seconds, 0.5, 60);
const say = values.json ? console.error : console.log;

const MAX_MSGS = 50_000_000;
const WARMUP_SECONDS = 1;

interface Scenario {
  name: string;
  mode: "pingpong" | "pipeline" | "stream";
  conns: number;
  size: number;
}
const ALL_SCENARIOS: Scenario[] = [
  { name: "pingpong-1", mode: "pingpong", conns: 1, size: 64 },
  { name: "pingpong-50", mode: "pingpong", conns: 50, size: 64 },
  { name: "pipeline-50", mode: "pipeline", conns: 50, size: 64 },
  { name: "stream-1", mode: "stream", conns: 1, size: 65536 },
];
// `--scenario NAME` (repeatable) runs only those.
const SCENARIOS = values.scenario === undefined
  ? ALL_SCENARIOS
  : ALL_SCENARIOS.filter((s) => values.scenario!.includes(s.name));
if (SCENARIOS.length === 0) {
  console.error(
    `unknown --scenario; known: ${ALL_SCENARIOS.map((s) => s.name).join(", ")}`,
  );
  Deno.exit(2);
}

/** What echo_load prints. */
interface LoadResult {
  mode: string;
  conns: number;
  msgs: number;
  "bytes_sent": number;
  "bytes_recv": number;
  seconds: number;
  errors: number;
  "connect_failures": number;
  "client_cpu_seconds": number;
}

const METRICS = [
  "msgs_per_s",
  "mb_per_s",
  "msgs_per_cpu_s",
  "mb_per_cpu_s",
  "server_cpu_pct",
  "loadgen_cpu_pct",
] as const;
type Metric = typeof METRICS[number];
type Metrics = Record<Metric, number>;

const HEADERS: Record<Metric, string> = {
  "msgs_per_s": "msgs/s",
  "mb_per_s": "MB/s",
  "msgs_per_cpu_s": "msgs/CPU-s",
  "mb_per_cpu_s": "MB/CPU-s",
  "server_cpu_pct": "srv CPU%",
  "loadgen_cpu_pct": "load CPU%",
};

const specs: ServerSpec[] = [tcpservdSpec([], values.server), nodeSpec()];
const clkTck = await clockTicksPerSecond();
const startLoadavg = safeLoadavg();

say(machineLine());
say(
  `rounds ${rounds} x ${seconds} s per run, ${SCENARIOS.length} scenarios, ` +
    `CLK_TCK ${clkTck}`,
);
for (const spec of specs) say(`${spec.name}: ${spec.cmd.join(" ")}`);

const tmp = await Deno.makeTempDir({ prefix: "tcpkit-bench-echo-" });
const live = new Set<RunningServer>();
const loadgens = new Set<Deno.ChildProcess>();
onInterrupt(async () => {
  await Promise.all([
    killServers(live),
    ...[...loadgens].map((child) => stopChild(child, 0)),
  ]);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
});
// results[scenario][server] = one Metrics per round
const results: Record<string, Record<string, Metrics[]>> = {};
let errorRuns = 0;
let exitCode = 0;
try {
  const loadgen = await compileLoadGenerator("echo_load", tmp);
  for (let round = 1; round <= rounds; round++) {
    const servers: RunningServer[] = [];
    for (const spec of specs) {
      const server = await RunningServer.start(spec);
      live.add(server);
      servers.push(server);
    }
    for (const server of servers) {
      await runLoad(loadgen, server, {
        name: "warmup",
        mode: "pipeline",
        conns: 10,
        size: 64,
      }, WARMUP_SECONDS);
    }
    const line: string[] = [];
    for (const scenario of SCENARIOS) {
      const order = round % 2 ? servers : [...servers].reverse();
      const key = keyMetric(scenario);
      const got: Record<string, number> = {};
      for (const server of order) {
        const { metrics, result } = await runLoad(
          loadgen,
          server,
          scenario,
          seconds,
        );
        if (result.errors > 0 || result.connect_failures > 0) {
          errorRuns++;
          say(
            `  ! ${scenario.name} ${server.spec.name}: ${result.errors} ` +
              `errors, ${result.connect_failures} connect failures`,
          );
        }
        ((results[scenario.name] ??= {})[server.spec.name] ??= []).push(
          metrics,
        );
        got[server.spec.name] = metrics[key];
      }
      const [a, b] = specs.map((s) => got[s.name]!);
      line.push(
        `${scenario.name} ${(a! / b!).toFixed(2)}`,
      );
    }
    for (const server of servers) {
      await server.stop();
      live.delete(server);
    }
    say(
      `round ${round}/${rounds}: ${specs[0]!.name}/${specs[1]!.name} per ` +
        `CPU-s: ${line.join(", ")}`,
    );
  }
  exitCode = report();
} catch (error) {
  if (!interrupted()) {
    console.error(
      `bench_echo: ${error instanceof Error ? error.message : error}`,
    );
  }
  exitCode = 1;
} finally {
  for (const server of live) await server.stop();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
Deno.exit(exitCode);

function keyMetric(scenario: Scenario): Metric {
  return scenario.mode === "stream" ? "mb_per_cpu_s" : "msgs_per_cpu_s";
}

/**
 * One load run: the generator connects, we sample server CPU, let it go,
 * read its result, sample again, then let it close and exit.
 */
async function runLoad(
  exe: string,
  server: RunningServer,
  scenario: Scenario,
  secs: number,
): Promise<{ metrics: Metrics; result: LoadResult }> {
  server.assertAlive();
  const child = new Deno.Command(exe, {
    args: [
      "127.0.0.1",
      String(server.port),
      scenario.mode,
      String(scenario.conns),
      String(scenario.size),
      String(secs),
      String(MAX_MSGS),
      "sync",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  loadgens.add(child);
  const out = new LineReader(child.stdout);
  const err = new LineReader(child.stderr);
  const stdin = child.stdin.getWriter();
  const what = `${scenario.name} against ${server.spec.name}`;
  try {
    const diagnostics: string[] = [];
    while (true) {
      const line = await withTimeout(err.next(), 20000, `${what}: connect`);
      if (line === null) {
        throw new Error(
          `${what}: load generator failed:\n${diagnostics.join("\n")}`,
        );
      }
      if (line === "READY") break;
      diagnostics.push(line);
    }
    const cpu0 = await cpuTicks(server.pid);
    await stdin.write(new TextEncoder().encode("go\n"));
    const json = await withTimeout(
      out.next(),
      (secs + 20) * 1000,
      `${what}: load`,
    );
    const cpu1 = await cpuTicks(server.pid);
    await stdin.close();
    const status = await withTimeout(child.status, 15000, `${what}: exit`);
    if (json === null || !status.success) {
      throw new Error(`${what}: load generator exited ${status.code}`);
    }
    server.assertAlive();
    const result = JSON.parse(json) as LoadResult;
    const cpu = Math.max(cpu1 - cpu0, 1) / clkTck;
    const mb = result.bytes_recv / 1e6;
    return {
      result,
      metrics: {
        "msgs_per_s": result.msgs / result.seconds,
        "mb_per_s": mb / result.seconds,
        "msgs_per_cpu_s": result.msgs / cpu,
        "mb_per_cpu_s": mb / cpu,
        "server_cpu_pct": 100 * (cpu1 - cpu0) / clkTck / result.seconds,
        "loadgen_cpu_pct": 100 * result.client_cpu_seconds / result.seconds,
      },
    };
  } finally {
    await stopChild(child, 100);
    loadgens.delete(child);
    await out.cancel();
    await err.cancel();
  }
}

/** Prints the medians, ratios and targets; returns the exit code. */
function report(): number {
  const [mine, base] = specs.map((s) => s.name) as [string, string];
  const medians: Record<string, Record<string, Metrics>> = {};
  const rows: string[][] = [[
    "scenario",
    "server",
    ...METRICS.map((m) => HEADERS[m]),
  ]];
  for (const scenario of SCENARIOS) {
    const perServer = results[scenario.name]!;
    const byServer: Record<string, Metrics> = {};
    for (const name of [mine, base]) {
      byServer[name] = Object.fromEntries(
        METRICS.map((m) => [m, median(perServer[name]!.map((r) => r[m]))]),
      ) as Metrics;
      rows.push([
        scenario.name,
        name,
        ...METRICS.map((m) => compact(byServer[name]![m])),
      ]);
    }
    byServer.ratio = Object.fromEntries(
      METRICS.map((m) => [m, byServer[mine]![m] / byServer[base]![m]]),
    ) as Metrics;
    rows.push([
      "",
      `${mine}/${base}`,
      ...METRICS.map((m) => byServer.ratio![m].toFixed(2)),
    ]);
    medians[scenario.name] = byServer;
  }
  say(
    `\nmedians over ${rounds} rounds of ${seconds} s (MB = 10^6 bytes echoed):`,
  );
  say(table(rows));

  const targets = [
    { scenario: "pingpong-50", metric: "msgs_per_cpu_s" as Metric, min: 1.3 },
    { scenario: "pingpong-1", metric: "msgs_per_cpu_s" as Metric, min: 1.0 },
    { scenario: "stream-1", metric: "mb_per_cpu_s" as Metric, min: 1.0 },
  ].filter((t) => medians[t.scenario] !== undefined).map((t) => {
    const ratio = medians[t.scenario]!.ratio![t.metric];
    // The same ratio taken round by round (paired), then its median.
    const mineRuns = results[t.scenario]![mine]!;
    const baseRuns = results[t.scenario]![base]!;
    const paired = median(
      mineRuns.map((r, i) => r[t.metric] / baseRuns[i]![t.metric]),
    );
    return { ...t, ratio, "paired_ratio": paired, met: ratio >= t.min };
  });
  say(
    `\ntargets (${mine}/${base}, ratio of medians; median of per-round ratios):`,
  );
  for (const t of targets) {
    say(
      `  ${t.scenario} ${HEADERS[t.metric]} >= ${t.min.toFixed(1)}x: ` +
        `${t.met ? "met" : "MISSED"} (${t.ratio.toFixed(2)}x; ` +
        `paired ${t.paired_ratio.toFixed(2)}x)`,
    );
  }
  if (errorRuns > 0) {
    say(`\n${errorRuns} run(s) saw echo errors or connect failures`);
  }
  if (values.json) {
    console.log(JSON.stringify({
      machine: {
        cores: navigator.hardwareConcurrency,
        "loadavg_at_start": startLoadavg,
      },
      rounds,
      seconds,
      servers: Object.fromEntries(specs.map((s) => [s.name, s.cmd])),
      medians,
      targets,
      "error_runs": errorRuns,
    }));
  }
  return errorRuns > 0 ? 1 : 0;
}

function safeLoadavg(): number[] | null {
  try {
    return Deno.loadavg();
  } catch {
    return null;
  }
}
