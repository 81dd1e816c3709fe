// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:pool`: iotcpd (n=4 `cat` daemons) against socat forking
 * a `cat` per connection (`socat TCP-LISTEN:PORT,fork,reuseaddr EXEC:cat`),
 * measured side by side, round after round, because these machines are
 * shared and noisy (DESIGN.md §6).
 *
 * Load: scripts/pool_load.c (a single-threaded C epoll client, compiled
 * with `cc -O2` into a temp dir) keeps 50 clients busy, each in a loop:
 * connect, send one line, read the reply line (checked), close. Each round
 * starts both servers fresh (alternating which goes first), warms each up
 * for 1 s, then loads it for `--seconds`. Reported per server: the median
 * over rounds of requests/s, p50 and p99 latency (connect to reply), server
 * CPU % and requests per server CPU-second; then iotcpd/socat as the ratio
 * of the median rates and as the median of the per-round ratios, against
 * the 3× target.
 *
 * Server CPU is utime+stime+cutime+cstime summed over the server's process
 * tree, from /proc/PID/stat just before and after the load window: socat's
 * forked children (and their cats) count once reaped, iotcpd's daemons
 * while alive. /proc is read through `cat`: Deno 2 wants --allow-all to
 * read it itself.
 *
 * socat gets `backlog=511` (its default is 5, which makes 50 clients wait
 * for SYN retransmits: that would measure a setting, not the design), and
 * `bind=127.0.0.1`; iotcpd runs with its defaults but `-p 0`.
 *
 * Usage: deno task bench:pool [--rounds N] [--seconds S] [--concurrency C]
 *          [--daemons N] [--json]
 *   --rounds       rounds (default 5, at most 50)
 *   --seconds      load window per run (default 3, at most 60)
 *   --concurrency  clients (default 50, at most 1000)
 *   --daemons      iotcpd's -n (default 4)
 *   --json         human report on stderr, medians as one JSON object on stdout
 *
 * Needs socat (Debian: apt-get install socat) and cc. Exits 1 if a run saw
 * wrong replies or failed connections, or a server died.
 */
import { parseArgs } from "node:util";
import {
  clockTicksPerSecond,
  compact,
  compileLoadGenerator,
  machineLine,
  median,
  numberFlag,
  onInterrupt,
  RunningServer,
  stopChild,
  table,
  taskArgs,
  withTimeout,
} from "./echo_bench_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "50" },
    daemons: { type: "string", default: "4" },
    json: { type: "boolean", default: false },
  },
});
const rounds = Math.round(numberFlag("rounds", values.rounds, 1, 50));
const seconds = numberFlag("seconds", values.seconds, 0.5, 60);
const concurrency = Math.round(
  numberFlag("concurrency", values.concurrency, 1, 1000),
);
const daemons = Math.round(numberFlag("daemons", values.daemons, 1, 1024));
const say = values.json ? console.error : console.log;
const WARMUP_SECONDS = 1;
const MAX_REQS = 10_000_000;
const TARGET_RATIO = 3;

interface RunResult {
  requests: number;
  errors: number;
  failures: number;
  seconds: number;
  rps: number;
  "p50_ms": number;
  "p99_ms": number;
  "client_cpu_seconds": number;
  serverCpuSeconds: number;
}

interface Server {
  name: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
  assertAlive(): void;
}

async function startIotcpd(): Promise<Server> {
  const server = await RunningServer.start({
    name: "iotcpd",
    cmd: [
      Deno.execPath(),
      ...taskArgs("iotcpd"),
      "-p",
      "0",
      "-n",
      String(daemons),
      "-d",
      "cat",
    ],
  });
  return {
    name: "iotcpd",
    port: server.port,
    pid: server.pid,
    stop: () => server.stop(),
    assertAlive: () => server.assertAlive(),
  };
}

function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

async function startSocat(): Promise<Server> {
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("socat", {
      args: [
        `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,backlog=511`,
        "EXEC:cat",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    throw new Error(
      `cannot start socat (apt-get install socat): ${error}`,
    );
  }
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  // socat says nothing when it listens: connect until it answers (bounded).
  await withTimeout(
    (async () => {
      while (true) {
        if (exited) throw new Error(`socat exited (code ${exited.code})`);
        try {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          conn.close();
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })(),
    5000,
    "socat start",
  ).catch(async (error) => {
    await stopChild(child, 0);
    throw error;
  });
  return {
    name: "socat",
    port,
    pid: child.pid,
    stop: () => stopChild(child),
    assertAlive: () => {
      if (exited) throw new Error(`socat exited (code ${exited.code})`);
    },
  };
}

/** utime+stime+cutime+cstime (ticks) of `pid` and its live descendants. */
async function treeCpuTicks(pid: number): Promise<number> {
  const out = await new Deno.Command("sh", {
    args: ["-c", "cat /proc/[0-9]*/stat 2>/dev/null; true"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const self = Number(line.slice(0, line.indexOf(" ")));
    const fields = line.slice(close + 2).split(" ");
    // fields[0] is field 3: ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    const ppid = Number(fields[1]);
    ticks.set(
      self,
      Number(fields[11]) + Number(fields[12]) + Number(fields[13]) +
        Number(fields[14]),
    );
    const list = children.get(ppid) ?? [];
    list.push(self);
    children.set(ppid, list);
  }
  let sum = 0;
  const queue = [pid];
  for (let i = 0; i < queue.length && i < 100_000; i++) {
    sum += ticks.get(queue[i]!) ?? 0;
    queue.push(...(children.get(queue[i]!) ?? []));
  }
  return sum;
}

async function load(
  binary: string,
  port: number,
  windowSeconds: number,
): Promise<Omit<RunResult, "serverCpuSeconds">> {
  const out = await withTimeout(
    new Deno.Command(binary, {
      args: [
        "127.0.0.1",
        String(port),
        String(concurrency),
        String(windowSeconds),
        String(MAX_REQS),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output(),
    (windowSeconds + 15) * 1000,
    "pool_load",
  );
  if (!out.success) throw new Error(`pool_load failed (code ${out.code})`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function measure(
  binary: string,
  start: () => Promise<Server>,
  ticksPerSecond: number,
  live: Set<Server>,
): Promise<RunResult> {
  const server = await start();
  live.add(server);
  try {
    await load(binary, server.port, WARMUP_SECONDS);
    const before = await treeCpuTicks(server.pid);
    const result = await load(binary, server.port, seconds);
    const after = await treeCpuTicks(server.pid);
    server.assertAlive();
    return { ...result, serverCpuSeconds: (after - before) / ticksPerSecond };
  } finally {
    live.delete(server);
    await server.stop();
  }
}

const tmp = await Deno.makeTempDir({ prefix: "bench_pool_" });
const live = new Set<Server>();
onInterrupt(async () => {
  await Promise.all([...live].map((server) => server.stop()));
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
});

let failed = false;
const results: Record<"iotcpd" | "socat", RunResult[]> = {
  iotcpd: [],
  socat: [],
};
try {
  const binary = await compileLoadGenerator("pool_load", tmp);
  const ticksPerSecond = await clockTicksPerSecond();
  say(machineLine());
  say(
    `load: ${concurrency} clients, each connect / one line / read reply / close; ` +
      `${rounds} rounds of ${seconds} s (+${WARMUP_SECONDS} s warm-up); iotcpd -n ${daemons} -d cat`,
  );
  const starters = { iotcpd: startIotcpd, socat: startSocat } as const;
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1
      ? (["iotcpd", "socat"] as const)
      : (["socat", "iotcpd"] as const);
    const line: string[] = [];
    for (const name of order) {
      const result = await measure(
        binary,
        starters[name],
        ticksPerSecond,
        live,
      );
      results[name].push(result);
      if (result.errors > 0 || result.failures > 0) failed = true;
      line.push(
        `${name} ${compact(result.rps)} req/s p50 ${
          result.p50_ms.toFixed(2)
        } ms p99 ${result.p99_ms.toFixed(2)} ms` +
          (result.errors || result.failures
            ? ` (${result.errors} wrong, ${result.failures} failed)`
            : ""),
      );
    }
    say(`round ${round}/${rounds}: ${line.join("; ")}`);
  }
} catch (error) {
  console.error(
    `bench:pool: ${error instanceof Error ? error.message : error}`,
  );
  failed = true;
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}

function summary(runs: RunResult[]) {
  return {
    rounds: runs.length,
    rps: median(runs.map((r) => r.rps)),
    p50Ms: median(runs.map((r) => r.p50_ms)),
    p99Ms: median(runs.map((r) => r.p99_ms)),
    serverCpuPercent: median(
      runs.map((r) => 100 * r.serverCpuSeconds / r.seconds),
    ),
    requestsPerServerCpuSecond: median(
      runs.map((r) => r.requests / Math.max(r.serverCpuSeconds, 1e-9)),
    ),
    clientCpuPercent: median(
      runs.map((r) => 100 * r.client_cpu_seconds / r.seconds),
    ),
    wrong: runs.reduce((sum, r) => sum + r.errors, 0),
    failed: runs.reduce((sum, r) => sum + r.failures, 0),
  };
}

if (results.iotcpd.length > 0 && results.socat.length > 0) {
  const iotcpd = summary(results.iotcpd);
  const socat = summary(results.socat);
  const paired = results.iotcpd.slice(0, results.socat.length).map((r, i) =>
    r.rps / results.socat[i]!.rps
  );
  const ratio = iotcpd.rps / socat.rps;
  const pairedRatio = median(paired);
  const row = (name: string, s: ReturnType<typeof summary>) => [
    name,
    compact(s.rps),
    s.p50Ms.toFixed(2),
    s.p99Ms.toFixed(2),
    s.serverCpuPercent.toFixed(0),
    compact(s.requestsPerServerCpuSecond),
    s.clientCpuPercent.toFixed(0),
    String(s.wrong + s.failed),
  ];
  say("");
  say(`medians over ${iotcpd.rounds} rounds:`);
  say(table([
    [
      "server",
      "req/s",
      "p50 ms",
      "p99 ms",
      "server CPU %",
      "req per CPU-s",
      "client CPU %",
      "errors",
    ],
    row("iotcpd", iotcpd),
    row("socat", socat),
  ], 1));
  say("");
  say(
    `iotcpd/socat req/s: ${ratio.toFixed(2)}x (ratio of medians), ` +
      `${pairedRatio.toFixed(2)}x (median of per-round ratios); ` +
      `req per server CPU-second: ${
        (iotcpd.requestsPerServerCpuSecond / socat.requestsPerServerCpuSecond)
          .toFixed(2)
      }x`,
  );
  say(
    `target >= ${TARGET_RATIO}x socat's rate: ${
      Math.min(ratio, pairedRatio) >= TARGET_RATIO ? "met" : "NOT met"
    }`,
  );
  if (values.json) {
    console.log(JSON.stringify({
      concurrency,
      seconds,
      daemons,
      iotcpd,
      socat,
      ratio,
      pairedRatio,
      target: TARGET_RATIO,
    }));
  }
}
Deno.exit(failed ? 1 : 0);
