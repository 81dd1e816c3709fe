// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:soak`: is `tcpcli soak` a good enough load generator? It
 * compares the messages per client CPU-second of soak against the
 * repository's C epoll load generator (scripts/echo_load.c, `cc -O2`) on the
 * same `tcpservd --echo` server at 50 connections, side by side, round after
 * round (the machines are shared and noisy), alternating which goes first.
 *
 * Each round: echo_load runs `pingpong` (one 16-byte message in flight per
 * connection, as fast as the server answers) for SECONDS and reports its
 * messages and its own CPU time; then soak runs in echo mode (16-byte
 * lines) at that same message rate, open loop, for SECONDS; its CPU is
 * utime+stime from /proc/PID/stat sampled at its "load started" and "load
 * ended" lines (through `cat`: Deno wants --allow-all to read /proc). Same
 * server, same connections, same throughput: the ratio of messages per
 * CPU-second is the ratio of CPU per message. Reports the median over rounds
 * of each figure, the ratio of the medians and the median of the per-round
 * ratios. Target: soak ≥ 0.8× echo_load.
 *
 * Usage: deno task bench:soak [--rounds N] [--seconds S]
 *   --rounds   rounds (default 5, at most 50)
 *   --seconds  load per run (default 4, at most 60)
 *
 * Exits 1 if a run lost messages or a server died.
 */
import { parseArgs } from "node:util";
import {
  clockTicksPerSecond,
  compact,
  compileLoadGenerator,
  cpuTicks,
  interrupted,
  killServers,
  machineLine,
  median,
  numberFlag,
  onInterrupt,
  ROOT,
  RunningServer,
  stopChild,
  taskArgs,
  tcpservdSpec,
  withTimeout,
} from "./echo_bench_lib.ts";

const CONNS = 50;
const TARGET = 0.8;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "4" },
  },
});
const rounds = Math.round(numberFlag("rounds", values.rounds, 1, 50));
const seconds = numberFlag("seconds", values.seconds, 0.5, 60);

/** One generator's run. */
interface Run {
  msgs: number;
  seconds: number;
  cpuSeconds: number;
  lost: number;
}

const perCpu = (run: Run) => run.msgs / run.cpuSeconds;

async function runEchoLoad(loadgen: string, port: number): Promise<Run> {
  const out = await withTimeout(
    new Deno.Command(loadgen, {
      args: [
        "127.0.0.1",
        String(port),
        "pingpong",
        String(CONNS),
        "16",
        String(seconds),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output(),
    (seconds + 30) * 1000,
    "echo_load",
  );
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(
      `echo_load failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const r = JSON.parse(text) as {
    msgs: number;
    seconds: number;
    client_cpu_seconds: number;
    errors: number;
    connect_failures: number;
  };
  return {
    msgs: r.msgs,
    seconds: r.seconds,
    cpuSeconds: r.client_cpu_seconds,
    lost: r.errors + r.connect_failures,
  };
}

async function runSoak(
  port: number,
  rate: number,
  ticksPerS: number,
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...taskArgs("tcpcli"),
      "soak",
      "--mode",
      "echo",
      "--conns",
      String(CONNS),
      "--rate",
      String(Math.round(rate)),
      "--duration",
      String(seconds),
      "--json",
      "-",
      "127.0.0.1",
      String(port),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    let startTicks = 0;
    let endTicks = 0;
    let stderr = "";
    const decoder = new TextDecoder();
    const watch = (async () => {
      for await (const chunk of child.stderr) {
        const before = stderr;
        stderr += decoder.decode(chunk, { stream: true });
        if (
          !before.includes("load started") && stderr.includes("load started")
        ) {
          startTicks = await cpuTicks(child.pid);
        }
        if (!before.includes("load ended") && stderr.includes("load ended")) {
          endTicks = await cpuTicks(child.pid);
        }
      }
    })();
    const stdout = new Response(child.stdout).text();
    const status = await withTimeout(
      child.status,
      (seconds + 60) * 1000,
      "soak",
    );
    await watch;
    const summary = JSON.parse((await stdout).trim()) as {
      totals: { answered: number };
      lostMessages: number;
      failedConnections: number;
      elapsedMs: number;
    };
    if (status.code > 1) {
      throw new Error(`soak exited ${status.code}:\n${stderr}`);
    }
    return {
      msgs: summary.totals.answered,
      seconds: summary.elapsedMs / 1000,
      cpuSeconds: (endTicks - startTicks) / ticksPerS,
      lost: summary.lostMessages + summary.failedConnections,
    };
  } finally {
    await stopChild(child, 0).catch(() => {});
  }
}

const tmp = await Deno.makeTempDir({ prefix: "tcpkit-bench-soak-" });
const live = new Set<RunningServer>();
onInterrupt(async () => {
  await killServers(live);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
});
let exitCode = 0;
const cRuns: Run[] = [];
const soakRuns: Run[] = [];
const ratios: number[] = [];
try {
  console.log(machineLine());
  console.log(
    `bench:soak: ${rounds} rounds, ${seconds} s each, ${CONNS} connections, 16-byte messages, tcpservd --echo`,
  );
  const loadgen = await compileLoadGenerator("echo_load", tmp);
  const ticksPerS = await clockTicksPerSecond();
  for (let round = 1; round <= rounds; round++) {
    const server = await RunningServer.start(tcpservdSpec([], undefined));
    live.add(server);
    // Warm up the server (and the page cache of both programs).
    await runEchoLoad(loadgen, server.port);
    let c: Run;
    let soak: Run;
    // soak's rate follows echo_load's: echo_load runs first except when a
    // previous round gives the rate to use (alternating the order).
    if (round % 2 === 1 || cRuns.length === 0) {
      c = await runEchoLoad(loadgen, server.port);
      soak = await runSoak(server.port, c.msgs / c.seconds, ticksPerS);
    } else {
      const previous = cRuns[cRuns.length - 1]!;
      soak = await runSoak(
        server.port,
        previous.msgs / previous.seconds,
        ticksPerS,
      );
      c = await runEchoLoad(loadgen, server.port);
    }
    server.assertAlive();
    await server.stop();
    live.delete(server);
    cRuns.push(c);
    soakRuns.push(soak);
    const ratio = perCpu(soak) / perCpu(c);
    ratios.push(ratio);
    if (c.lost > 0 || soak.lost > 0) exitCode = 1;
    console.log(
      `round ${round}/${rounds}: echo_load ${
        compact(c.msgs / c.seconds)
      } msg/s, ` +
        `${(100 * c.cpuSeconds / c.seconds).toFixed(0)} % CPU, ${
          compact(perCpu(c))
        } msg/CPU-s; ` +
        `soak ${compact(soak.msgs / soak.seconds)} msg/s, ` +
        `${(100 * soak.cpuSeconds / soak.seconds).toFixed(0)} % CPU, ${
          compact(perCpu(soak))
        } msg/CPU-s` +
        `${soak.lost > 0 ? ` (LOST ${soak.lost})` : ""}; ratio ${
          ratio.toFixed(2)
        }`,
    );
  }
  const cMedian = median(cRuns.map(perCpu));
  const soakMedian = median(soakRuns.map(perCpu));
  console.log(
    `medians: echo_load ${
      compact(median(cRuns.map((r) => r.msgs / r.seconds)))
    } msg/s, ` +
      `${compact(cMedian)} msg/CPU-s; soak ${
        compact(median(soakRuns.map((r) => r.msgs / r.seconds)))
      } msg/s, ${compact(soakMedian)} msg/CPU-s`,
  );
  const ratio = soakMedian / cMedian;
  console.log(
    `soak/echo_load per client CPU-second: ${
      ratio.toFixed(2)
    } (ratio of medians), ` +
      `${
        median(ratios).toFixed(2)
      } (median of per-round ratios); target >= ${TARGET}: ${
        ratio >= TARGET ? "met" : "NOT met"
      }`,
  );
  if (exitCode !== 0) {
    console.log("some run lost messages: see the rounds above");
  }
} catch (error) {
  if (!interrupted()) {
    console.error(
      `bench_soak: ${error instanceof Error ? error.message : error}`,
    );
  }
  exitCode = 1;
} finally {
  for (const server of live) await server.stop();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
Deno.exit(exitCode);
