// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:probe`: the whole-process cost of one tcpcli probe, as a
 * cluster monitor pays it every few seconds.
 *
 * Runs side by side, round after round, against one local tcpservd:
 * - `tcpcli`: the real command, run as its `deno task` runs it;
 * - `minimal`: the least a Deno probe can do (connect, getstatus, quit) in
 *   one small file: the floor our code adds to;
 * - `hello`: `deno run` of an empty program: the runtime's own start-up.
 *
 * Reports the median wall time per variant (median of per-round medians),
 * its ratio to `minimal`, and the peak RSS from GNU time when present.
 *
 * Usage: deno task bench:probe [--rounds N] [--runs N]
 */
import { parseArgs } from "node:util";
import { ROOT, taskArgs } from "./echo_bench_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    runs: { type: "string", default: "20" },
  },
});
const rounds = Math.max(1, Math.min(50, Number(values.rounds)));
const runs = Math.max(1, Math.min(500, Number(values.runs)));

const MINIMAL = `
const [host, port] = Deno.args;
const conn = await Deno.connect({ hostname: host, port: Number(port) });
const buf = new Uint8Array(256);
const enc = new TextEncoder(), dec = new TextDecoder();
await conn.read(buf);
await conn.write(enc.encode("getstatus\\n"));
const n = await conn.read(buf);
const good = dec.decode(buf.subarray(0, n ?? 0)).startsWith("GOOD");
await conn.write(enc.encode("quit\\n"));
while ((await conn.read(buf)) !== null);
conn.close();
Deno.exit(good ? 0 : 1);
`;

const tmp = await Deno.makeTempDir({ prefix: "tcpkit-bench-" });
const minimalPath = `${tmp}/minimal.ts`;
const helloPath = `${tmp}/hello.ts`;
await Deno.writeTextFile(minimalPath, MINIMAL);
await Deno.writeTextFile(helloPath, "");

const server = new Deno.Command(Deno.execPath(), {
  args: [
    ...taskArgs("tcpservd"),
    "-a",
    "127.0.0.1",
    "-p",
    "0",
    "--idle-timeout",
    "0",
  ],
  cwd: ROOT,
  stdout: "null",
  stderr: "piped",
}).spawn();

try {
  const port = await waitForPort(server);
  const variants: Record<string, string[]> = {
    tcpcli: [...taskArgs("tcpcli"), "-q", "127.0.0.1", String(port)],
    minimal: ["run", "--allow-net", minimalPath, "127.0.0.1", String(port)],
    hello: ["run", helloPath],
  };
  // Warm the module caches so the first round is not a compile.
  for (const args of Object.values(variants)) await timeRun(args);

  const medians: Record<string, number[]> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const [name, args] of Object.entries(variants)) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await timeRun(args));
      (medians[name] ??= []).push(median(times));
    }
    const line = Object.entries(medians).map(([n, m]) =>
      `${n} ${m.at(-1)!.toFixed(1)} ms`
    );
    console.log(`round ${round}/${rounds}: ${line.join(", ")}`);
  }

  const rss: Record<string, number | undefined> = {};
  for (const [name, args] of Object.entries(variants)) {
    rss[name] = await peakRssMb(args);
  }

  const floor = median(medians.minimal!);
  console.log(
    `\nwhole-process time, median of ${rounds} round medians (${runs} runs each):`,
  );
  console.log("variant   median ms   ratio to minimal   peak RSS MB");
  for (const [name, values] of Object.entries(medians)) {
    const m = median(values);
    const r = rss[name] === undefined ? "n/a" : rss[name]!.toFixed(1);
    console.log(
      `${name.padEnd(9)} ${m.toFixed(1).padStart(9)}   ${
        (m / floor).toFixed(2).padStart(16)
      }   ${r.padStart(11)}`,
    );
  }
  const cli = median(medians.tcpcli!);
  const cliRss = rss.tcpcli;
  console.log(
    `\ntargets: median < 60 ms: ${cli < 60 ? "met" : "MISSED"} (${
      cli.toFixed(1)
    } ms); ` +
      `peak RSS < 60 MB: ${
        cliRss === undefined ? "not measured" : cliRss < 60 ? "met" : "MISSED"
      } (${cliRss?.toFixed(1) ?? "n/a"} MB)`,
  );
} finally {
  server.kill("SIGTERM");
  await server.status;
  await Deno.remove(tmp, { recursive: true });
}

async function waitForPort(child: Deno.ChildProcess): Promise<number> {
  const decoder = new TextDecoder();
  let text = "";
  const reader = child.stderr.getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`tcpservd exited:\n${text}`);
      text += decoder.decode(value);
      const match = text.match(/listening on [^\s]+:(\d+)/);
      if (match) {
        // Keep draining stderr so the server never blocks on a full pipe.
        (async () => {
          while (!(await reader.read()).done);
        })();
        return Number(match[1]);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

async function timeRun(args: string[]): Promise<number> {
  const started = performance.now();
  const { code } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).output();
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${args.join(" ")} exited ${code}`);
  return ms;
}

async function peakRssMb(args: string[]): Promise<number | undefined> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    try {
      const out = await new Deno.Command("/usr/bin/time", {
        args: ["-f", "%M", Deno.execPath(), ...args],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).output();
      const kb = Number(
        new TextDecoder().decode(out.stderr).trim().split("\n").at(-1),
      );
      if (!Number.isFinite(kb)) return undefined;
      samples.push(kb / 1024);
    } catch {
      return undefined; // No GNU time here.
    }
  }
  return median(samples);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
