// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:takeover`: what clients see while `takeover server`
 * hands its listener and live connections to a new process, and what the
 * takeover server's echo costs next to `tcpservd --echo --engine deno`.
 *
 * 1. Pause. For 1, 100 and 1,000 live connections (`--conns`), each sending
 *    a 4-byte seqnum every `--interval` ms (default: 10 ms up to 100
 *    connections, 100 ms above — see `intervalFor`; a seqnum client in this
 *    process, every echo checked and timed), a server is started,
 *    warmed up for 1 s, then handed over `--takeovers` times (default 3) in
 *    a chain, `--rounds` times. For each handover the switch window runs
 *    from the old process's "handing over" line to the new one's
 *    "took over" line (as this process reads them); the round trips of the
 *    seqnums in flight at any moment of that window are the pause clients
 *    saw: their maximum and 99th percentile are reported, next to the same
 *    figures for the second before the new process was started (baseline)
 *    and the old process's own "paused" figure (pause to commit). Medians
 *    over all handovers. The target: a pause under 50 ms at 1,000.
 * 2. Throughput. `takeover server` (fd-owned sockets, FFI epoll reactor
 *    waiting on the thread pool) against `tcpservd --echo --engine deno`
 *    (Deno.listen), side by side, round after round (DESIGN.md §6), with
 *    scripts/echo_load.c (compiled with cc):
 *    pingpong-1, pingpong-50 and pipeline-50 with 64-byte messages (16
 *    seqnum frames each, which the seqnum server echoes whole). Medians of
 *    msgs/s and msgs per server CPU-second, and the takeover/tcpservd ratio.
 *
 * Usage: deno task bench:takeover [--conns 1,100,1000] [--interval MS]
 *          [--takeovers K] [--rounds N] [--seconds S] [--no-throughput]
 *          [--no-pause] [--json]
 *
 * Exits 1 if a client saw a discontinuity, a handover failed, or a load run
 * saw echo errors.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { SeqnumClient } from "../takeover/mod.ts";
import {
  clockTicksPerSecond,
  compact,
  compileLoadGenerator,
  cpuTicks,
  LineReader,
  machineLine,
  median,
  numberFlag,
  ROOT,
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
    conns: { type: "string", default: "1,100,1000" },
    interval: { type: "string", default: "auto" },
    takeovers: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "2" },
    "no-throughput": { type: "boolean", default: false },
    "no-pause": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const connCounts = values.conns.split(",").map((text) =>
  Math.round(numberFlag("conns", text, 1, 10000))
);
// "auto": 10 ms per connection up to 100 connections, 100 ms above (1,000
// connections then send 10,000 seqnums/s in all). At 10 ms, 1,000
// connections ask 100,000 echoes/s of client and server together: a 2-core
// machine is saturated before any handover (baseline p99 ~100 ms), which
// measures the machine rather than the handover.
function intervalFor(conns: number): number {
  if (values.interval !== "auto") {
    return Math.round(numberFlag("interval", values.interval, 1, 10000));
  }
  return conns <= 100 ? 10 : 100;
}
const takeovers = Math.round(numberFlag("takeovers", values.takeovers, 1, 20));
const rounds = Math.round(numberFlag("rounds", values.rounds, 1, 50));
const seconds = numberFlag("seconds", values.seconds, 0.5, 60);
const say = values.json ? console.error : console.log;

/** The takeover task's flags (the README's), for what users run. */
const TAKEOVER_RUN = [
  "run",
  "--allow-net",
  "--allow-ffi",
  "--allow-env=TCPKIT_LIBC_PATH",
  "takeover/main.ts",
];

/** A child process whose stderr lines are timestamped on arrival. */
class Child {
  readonly process: Deno.ChildProcess;
  readonly lines: { at: number; text: string }[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #pump: Promise<void>;
  #exited = false;

  constructor(args: string[]) {
    this.process = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = new LineReader(this.process.stderr);
    this.#pump = (async () => {
      for (
        let line = await reader.next();
        line !== null;
        line = await reader.next()
      ) {
        this.lines.push({ at: performance.now(), text: line });
        for (const wake of this.#waiters) wake();
      }
    })();
    this.process.status.then(() => {
      this.#exited = true;
      for (const wake of this.#waiters) wake();
    });
  }

  /** The first line matching `pattern` (arrival time and match). */
  async waitFor(
    pattern: RegExp,
    ms = 30000,
  ): Promise<{ at: number; match: RegExpMatchArray }> {
    const deadline = performance.now() + ms;
    for (let from = 0;;) {
      for (; from < this.lines.length; from++) {
        const line = this.lines[from]!;
        const match = line.text.match(pattern);
        if (match) return { at: line.at, match };
      }
      if (this.#exited) {
        throw new Error(
          `exited before ${pattern}:\n${
            this.lines.map((l) => l.text).join("\n")
          }`,
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}`);
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.add(resolve);
      const timer = setTimeout(resolve, left);
      await promise;
      clearTimeout(timer);
      this.#waiters.delete(resolve);
    }
  }

  async stop(): Promise<void> {
    await stopChild(this.process, 3000);
    await this.#pump;
  }
}

interface Sample {
  sentAt: number;
  rtt: number;
}

interface SwitchResult {
  conns: number;
  switchMaxMs: number;
  switchP99Ms: number;
  baselineMaxMs: number;
  baselineP99Ms: number;
  serverPausedMs: number;
  tookOverMs: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]!;
}

const live = new Set<Child>();

async function pauseRound(conns: number): Promise<SwitchResult[]> {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit-bench-takeover-" });
  const path = `${dir}/takeover.sock`;
  const samples: Sample[] = [];
  const results: SwitchResult[] = [];
  let server = new Child([
    ...TAKEOVER_RUN,
    "server",
    "-a",
    "127.0.0.1",
    "-p",
    "0",
    "-t",
    path,
    "--handover-timeout",
    "30000",
  ]);
  live.add(server);
  let client: SeqnumClient | undefined;
  let running: Promise<unknown> | undefined;
  try {
    const listening = await server.waitFor(/listening on [^\s]+:(\d+)/);
    const port = Number(listening.match[1]);
    client = await SeqnumClient.connect({
      hostname: "127.0.0.1",
      port,
      conns,
      intervalMs: intervalFor(conns),
      timeoutMs: 60000,
      onSample: (sentAt, rtt) => samples.push({ sentAt, rtt }),
    });
    running = client.run();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let k = 0; k < takeovers; k++) {
      const spawnedAt = performance.now();
      const next = new Child([
        ...TAKEOVER_RUN,
        "server",
        "-T",
        path,
        "--handover-timeout",
        "30000",
      ]);
      live.add(next);
      const handing = await server.waitFor(/handing over to pid/);
      const took = await next.waitFor(
        /took over (\d+) connections .* in ([\d.]+) ms/,
      );
      const handed = await server.waitFor(/\(paused ([\d.]+) ms\)/);
      await next.waitFor(/listening on/);
      await withTimeout(server.process.status, 30000, "the old process's exit");
      await server.stop();
      live.delete(server);
      server = next;
      // Let the round trips in flight at the end of the window land.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const inSwitch = samples.filter((s) =>
        s.sentAt <= took.at && s.sentAt + s.rtt >= handing.at
      ).map((s) => s.rtt);
      const before = samples.filter((s) =>
        s.sentAt >= spawnedAt - 1000 && s.sentAt < spawnedAt
      ).map((s) => s.rtt);
      results.push({
        conns,
        switchMaxMs: Math.max(0, ...inSwitch),
        switchP99Ms: percentile(inSwitch, 0.99),
        baselineMaxMs: Math.max(0, ...before),
        baselineP99Ms: percentile(before, 0.99),
        serverPausedMs: Number(handed.match[1]),
        tookOverMs: Number(took.match[2]),
      });
      const stats = client.stats;
      if (stats.sent - stats.received > conns) {
        throw new Error("the client lost track of its seqnums");
      }
    }
    client.stop();
    const report = await (running as Promise<{ failure: string | undefined }>);
    running = undefined;
    if (report.failure !== undefined) {
      throw new Error(`${conns} connections: ${report.failure}`);
    }
    return results;
  } finally {
    client?.stop();
    await running;
    await server.stop();
    live.delete(server);
    for (const child of live) await child.stop();
    live.clear();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

interface LoadResult {
  msgs: number;
  seconds: number;
  errors: number;
  "connect_failures": number;
  "client_cpu_seconds": number;
}

interface Throughput {
  msgsPerS: number;
  msgsPerCpuS: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
}

async function runLoad(
  exe: string,
  server: RunningServer,
  mode: string,
  conns: number,
  clkTck: number,
): Promise<Throughput> {
  const child = new Deno.Command(exe, {
    args: [
      "127.0.0.1",
      String(server.port),
      mode,
      String(conns),
      "64",
      String(seconds),
      "50000000",
      "sync",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new LineReader(child.stdout);
  const err = new LineReader(child.stderr);
  const stdin = child.stdin.getWriter();
  try {
    while (true) {
      const line = await withTimeout(err.next(), 20000, "load connect");
      if (line === null) throw new Error("the load generator failed");
      if (line === "READY") break;
    }
    const cpu0 = await cpuTicks(server.pid);
    await stdin.write(new TextEncoder().encode("go\n"));
    const json = await withTimeout(out.next(), (seconds + 20) * 1000, "load");
    const cpu1 = await cpuTicks(server.pid);
    await stdin.close();
    await withTimeout(child.status, 15000, "load exit");
    if (json === null) throw new Error("the load generator printed nothing");
    const result = JSON.parse(json) as LoadResult;
    if (result.errors > 0 || result.connect_failures > 0) {
      throw new Error(
        `${server.spec.name} ${mode}-${conns}: ${result.errors} echo errors, ${result.connect_failures} connect failures`,
      );
    }
    const cpu = Math.max(cpu1 - cpu0, 1) / clkTck;
    return {
      msgsPerS: result.msgs / result.seconds,
      msgsPerCpuS: result.msgs / cpu,
      serverCpuPct: 100 * (cpu1 - cpu0) / clkTck / result.seconds,
      loadgenCpuPct: 100 * result.client_cpu_seconds / result.seconds,
    };
  } finally {
    await stopChild(child, 100);
    await out.cancel();
    await err.cancel();
  }
}

async function throughput(): Promise<
  Record<string, Record<string, Throughput[]>>
> {
  const clkTck = await clockTicksPerSecond();
  const tmp = await Deno.makeTempDir({ prefix: "tcpkit-bench-takeover-" });
  const specs: ServerSpec[] = [
    {
      name: "takeover",
      cmd: [
        Deno.execPath(),
        ...TAKEOVER_RUN,
        "server",
        "-a",
        "127.0.0.1",
        "-p",
        "0",
        "-t",
        `${tmp}/takeover.sock`,
      ],
    },
    tcpservdSpec(["--engine", "deno"], undefined),
  ];
  const scenarios = [
    ["pingpong", 1],
    ["pingpong", 50],
    ["pipeline", 50],
  ] as const;
  const results: Record<string, Record<string, Throughput[]>> = {};
  try {
    const exe = await compileLoadGenerator("echo_load", tmp);
    for (let round = 1; round <= rounds; round++) {
      const servers: RunningServer[] = [];
      try {
        for (const spec of specs) servers.push(await RunningServer.start(spec));
        for (const server of servers) {
          await runLoad(exe, server, "pipeline", 10, clkTck); // warm-up
        }
        for (const [mode, conns] of scenarios) {
          const order = round % 2 ? servers : [...servers].reverse();
          for (const server of order) {
            const got = await runLoad(exe, server, mode, conns, clkTck);
            ((results[`${mode}-${conns}`] ??= {})[server.spec.name] ??= [])
              .push(got);
          }
        }
      } finally {
        for (const server of servers) await server.stop();
      }
      say(`throughput round ${round}/${rounds} done`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return results;
}

let exitCode = 0;
const report: Record<string, unknown> = { machine: machineLine() };
say(machineLine());
try {
  if (!values["no-pause"]) {
    say(
      `pause: ${
        connCounts.map((c) =>
          `${c} connections (a seqnum every ${intervalFor(c)} ms each)`
        ).join(", ")
      }; ${takeovers} chained takeovers x ${rounds} rounds`,
    );
    const rows = [[
      "conns",
      "switch max",
      "switch p99",
      "baseline max",
      "baseline p99",
      "server paused",
      "took over in",
      "handovers",
    ]];
    const pause: Record<string, unknown> = {};
    for (const conns of connCounts) {
      const all: SwitchResult[] = [];
      for (let round = 1; round <= rounds; round++) {
        const got = await pauseRound(conns);
        all.push(...got);
        say(
          `  ${conns} conns, round ${round}: switch max ${
            got.map((r) => r.switchMaxMs.toFixed(1)).join(" / ")
          } ms (server paused ${
            got.map((r) => r.serverPausedMs.toFixed(1)).join(" / ")
          } ms)`,
        );
      }
      const med = (pick: (r: SwitchResult) => number) => median(all.map(pick));
      const row = {
        switchMaxMs: med((r) => r.switchMaxMs),
        switchMaxWorstMs: Math.max(...all.map((r) => r.switchMaxMs)),
        switchP99Ms: med((r) => r.switchP99Ms),
        baselineMaxMs: med((r) => r.baselineMaxMs),
        baselineP99Ms: med((r) => r.baselineP99Ms),
        serverPausedMs: med((r) => r.serverPausedMs),
        tookOverMs: med((r) => r.tookOverMs),
        handovers: all.length,
      };
      pause[conns] = row;
      rows.push([
        String(conns),
        `${row.switchMaxMs.toFixed(1)} ms (worst ${
          row.switchMaxWorstMs.toFixed(1)
        })`,
        `${row.switchP99Ms.toFixed(1)} ms`,
        `${row.baselineMaxMs.toFixed(1)} ms`,
        `${row.baselineP99Ms.toFixed(1)} ms`,
        `${row.serverPausedMs.toFixed(1)} ms`,
        `${row.tookOverMs.toFixed(1)} ms`,
        String(row.handovers),
      ]);
    }
    say(`\nmedians over every handover (round trips as clients saw them):`);
    say(table(rows, 1));
    const at1000 = (pause["1000"] as { switchMaxMs: number } | undefined)
      ?.switchMaxMs;
    if (at1000 !== undefined) {
      say(
        `target: pause under 50 ms at 1,000 connections: ${
          at1000 < 50 ? "met" : "MISSED"
        } (median switch max ${at1000.toFixed(1)} ms)`,
      );
    }
    report.pause = pause;
  }
  if (!values["no-throughput"]) {
    say(
      `\nthroughput: takeover server vs tcpservd --echo --engine deno, ${rounds} rounds x ${seconds} s`,
    );
    const results = await throughput();
    const rows = [[
      "scenario",
      "server",
      "msgs/s",
      "msgs/CPU-s",
      "srv CPU%",
      "load CPU%",
    ]];
    const medians: Record<string, unknown> = {};
    for (const [scenario, byServer] of Object.entries(results)) {
      const m = (name: string, pick: (t: Throughput) => number) =>
        median(byServer[name]!.map(pick));
      for (const name of ["takeover", "tcpservd"]) {
        rows.push([
          scenario,
          name,
          compact(m(name, (t) => t.msgsPerS)),
          compact(m(name, (t) => t.msgsPerCpuS)),
          m(name, (t) => t.serverCpuPct).toFixed(0),
          m(name, (t) => t.loadgenCpuPct).toFixed(0),
        ]);
      }
      const ratio = m("takeover", (t) => t.msgsPerS) /
        m("tcpservd", (t) => t.msgsPerS);
      const cpuRatio = m("takeover", (t) => t.msgsPerCpuS) /
        m("tcpservd", (t) => t.msgsPerCpuS);
      rows.push([
        scenario,
        "takeover/tcpservd",
        ratio.toFixed(2),
        cpuRatio.toFixed(2),
        "",
        "",
      ]);
      medians[scenario] = { msgsPerSRatio: ratio, msgsPerCpuSRatio: cpuRatio };
    }
    say(table(rows));
    report.throughput = medians;
  }
} catch (error) {
  console.error(
    `bench_takeover: ${error instanceof Error ? error.message : error}`,
  );
  exitCode = 1;
} finally {
  for (const child of live) await child.stop();
}
if (values.json) console.log(JSON.stringify(report));
Deno.exit(exitCode);
