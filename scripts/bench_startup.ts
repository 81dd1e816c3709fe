// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:startup`: how long each server command takes from spawn
 * to its `listening on` line, run as its `deno task` runs it, beside the
 * runtime's own start (`deno run` of a program that only listens and says
 * so): the floor our module graph and set-up add to.
 *
 * Variants run side by side, round after round (interleaved, so a noisy
 * moment hits them all); reports the median per variant and its ratio to
 * the bare one.
 *
 * Usage: deno task bench:startup [--rounds N]
 */
import { parseArgs } from "node:util";
import denoConfig from "../deno.json" with { type: "json" };
import { ROOT } from "./echo_bench_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "11" } },
});
const rounds = Math.max(1, Math.min(101, Number(values.rounds) || 11));

const BARE = `
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.error("listening on 127.0.0.1:" + listener.addr.port);
await new Promise(() => {});
`;

function task(name: "tcpservd" | "iotcpd" | "takeover"): string[] {
  return denoConfig.tasks[name].split(/\s+/).slice(1);
}

const tmp = await Deno.makeTempDir({ prefix: "tcpkit-bench-startup-" });
const barePath = `${tmp}/bare.ts`;
await Deno.writeTextFile(barePath, BARE);

const variants: { name: string; args: string[] }[] = [
  { name: "bare deno", args: ["run", "--allow-net", barePath] },
  {
    name: "tcpservd",
    args: [...task("tcpservd"), "-a", "127.0.0.1", "-p", "0"],
  },
  {
    name: "tcpservd --echo",
    args: [...task("tcpservd"), "--echo", "-a", "127.0.0.1", "-p", "0"],
  },
  {
    name: "iotcpd",
    args: [...task("iotcpd"), "-i", "127.0.0.1", "-p", "0", "-n", "1"],
  },
  {
    name: "takeover server",
    args: [...task("takeover"), "server", "-a", "127.0.0.1", "-p", "0"],
  },
];

/** Spawn to the `listening on` line, in ms; the process is killed after. */
async function once(args: string[]): Promise<number> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
  let took = Number.NaN;
  let text = "";
  try {
    const reader = child.stderr.pipeThrough(new TextDecoderStream())
      .getReader();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      if (/listening on /.test(text)) {
        took = performance.now() - started;
        break;
      }
      if (text.length > 1 << 16) break;
    }
    reader.releaseLock();
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
    await child.status;
    await child.stderr.cancel().catch(() => {});
  }
  if (Number.isNaN(took)) {
    throw new Error(`no "listening on" line from ${args.join(" ")}:\n${text}`);
  }
  return took;
}

function median(xs: number[]): number {
  const sorted = xs.toSorted((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

try {
  const load = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  console.log(`machine: ${navigator.hardwareConcurrency} cores, load ${load}`);
  // One warm-up each: the module cache, as after an install.
  for (const variant of variants) await once(variant.args);
  const times = new Map(variants.map((v) => [v.name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      times.get(variant.name)!.push(await once(variant.args));
    }
  }
  const bare = median(times.get("bare deno")!);
  console.log(`\nspawn to "listening on", median of ${rounds} rounds:`);
  console.log("variant            median ms  min ms  ratio to bare deno");
  for (const variant of variants) {
    const xs = times.get(variant.name)!;
    const m = median(xs);
    console.log(
      `${variant.name.padEnd(18)} ${m.toFixed(1).padStart(9)}  ${
        Math.min(...xs).toFixed(1).padStart(6)
      }  ${(m / bare).toFixed(2)}x`,
    );
  }
} finally {
  await Deno.remove(tmp, { recursive: true });
}
