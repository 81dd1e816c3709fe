// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:idle`: the memory cost of idle connections to
 * `tcpservd --echo`, with Node's `net` echo (scripts/node_echo.mjs) measured
 * the same way in the same run as a reference.
 *
 * For each server in turn: start it fresh (tcpservd with
 * `--max-concurrent-connections 0`, i.e. no limit), let it settle, read its
 * VmRSS from /proc/PID/status ("idle"); open N connections from this process
 * in batches, settle, read VmRSS ("connected": accepted, no data yet); prove
 * the server accepted and serves every one by sending one byte on each and
 * reading the echo (in batches); settle and read VmRSS ("loaded"); then
 * close them all and stop the server. Reports loaded − idle, in total
 * (MB = 2^20 bytes) and per connection (KB = 2^10 bytes), against the target
 * "< 100 MB above idle for 10,000 connections" (projected linearly when N is
 * not 10,000; a small N overstates it). Each phase is bounded to 60 s. /proc
 * is read through `cat`: Deno 2 wants --allow-all to read /proc itself.
 *
 * N is capped below this process's open-file limit (`ulimit -n` as seen by a
 * child shell; Deno raises its soft limit to the hard one at start-up), with
 * a message saying so; raise the hard limit to go higher.
 *
 * Usage: deno task bench:idle [--conns N] [--batch N] [--server "CMD..."]
 *   --conns   idle connections (default 10000, at most 60000)
 *   --batch   connections opened / checked at once (default 500)
 *   --server  replaces the tcpservd side's command (split on whitespace; it
 *             must exec the server itself and print "listening on
 *             HOST:PORT" on stderr); the TCPKIT_BENCH_ECHO_SERVER environment
 *             variable does the same
 *
 * Exits 1 if a server did not accept or echo on every connection.
 */
import { parseArgs } from "node:util";
import {
  interrupted,
  killServers,
  machineLine,
  nodeSpec,
  numberFlag,
  onInterrupt,
  RunningServer,
  type ServerSpec,
  sleep,
  table,
  tcpservdSpec,
  vmRssKb,
  withTimeout,
} from "./echo_bench_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    conns: { type: "string", default: "10000" },
    batch: { type: "string", default: "500" },
    server: { type: "string" },
  },
});
let conns = Math.round(numberFlag("conns", values.conns, 1, 60000));
const batch = Math.round(numberFlag("batch", values.batch, 1, 5000));

const PHASE_MS = 60000;
const SETTLE_MS = 1000;
const TARGET_CONNS = 10000;
const TARGET_MB = 100;
// Descriptors this process needs besides the connections (runtime, pipes).
const FD_MARGIN = 256;

console.log(machineLine());
const limit = await openFileLimit();
if (limit !== undefined && conns > limit - FD_MARGIN) {
  const capped = Math.max(1, limit - FD_MARGIN);
  console.log(
    `ulimit -n is ${limit}: capping --conns ${conns} to ${capped} ` +
      `(raise the hard open-file limit to measure more)`,
  );
  conns = capped;
} else {
  console.log(`ulimit -n ${limit ?? "unknown"}; ${conns} connections`);
}

const specs: ServerSpec[] = [
  tcpservdSpec(["--max-concurrent-connections", "0"], values.server),
  nodeSpec(),
];
for (const spec of specs) console.log(`${spec.name}: ${spec.cmd.join(" ")}`);

interface Result {
  name: string;
  idleKb: number;
  connectedKb: number;
  loadedKb: number;
  opened: number;
  echoed: number;
}

const live = new Set<RunningServer>();
onInterrupt(() => killServers(live));
const results: Result[] = [];
let exitCode = 0;
for (const spec of specs) {
  try {
    results.push(await measure(spec));
  } catch (error) {
    if (!interrupted()) {
      console.error(
        `${spec.name}: ${error instanceof Error ? error.message : error}`,
      );
    }
    exitCode = 1;
  }
}

if (results.length > 0) {
  const rows = [[
    "server",
    "conns",
    "echoed",
    "idle MB",
    "connected MB",
    "loaded MB",
    "delta MB",
    "KB/conn",
    `MB per ${TARGET_CONNS / 1000}k`,
  ]];
  for (const r of results) {
    const deltaKb = r.loadedKb - r.idleKb;
    rows.push([
      r.name,
      String(r.opened),
      String(r.echoed),
      (r.idleKb / 1024).toFixed(1),
      (r.connectedKb / 1024).toFixed(1),
      (r.loadedKb / 1024).toFixed(1),
      (deltaKb / 1024).toFixed(1),
      (deltaKb / r.opened).toFixed(2),
      (deltaKb / r.opened * TARGET_CONNS / 1024).toFixed(1),
    ]);
  }
  console.log(
    `\nVmRSS (MB = 2^20 B, KB = 2^10 B): idle; connected (accepted, no ` +
      `data yet); loaded (after one echoed byte each): the delta and the ` +
      `target use loaded - idle`,
  );
  console.log(table(rows, 1));
  const mine = results.find((r) => r.name === specs[0]!.name);
  if (mine) {
    const projected = (mine.loadedKb - mine.idleKb) / mine.opened *
      TARGET_CONNS / 1024;
    const scaled = mine.opened === TARGET_CONNS
      ? ""
      : `, projected linearly from ${mine.opened} connections`;
    console.log(
      `\ntarget: ${mine.name} < ${TARGET_MB} MB above idle for ` +
        `${TARGET_CONNS} connections: ${
          projected < TARGET_MB ? "met" : "MISSED"
        } (${projected.toFixed(1)} MB${scaled})`,
    );
  }
}
Deno.exit(exitCode);

async function openFileLimit(): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (text === "unlimited") return undefined;
    const value = Number(text);
    return Number.isFinite(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `work` over `items` in batches of `batch`, all within `ms`. */
async function inBatches<T>(
  items: T[],
  what: string,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + PHASE_MS;
  for (let start = 0; start < items.length; start += batch) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${what}: over ${PHASE_MS} ms`);
    const slice = items.slice(start, start + batch);
    await withTimeout(
      Promise.all(slice.map((item, i) => work(item, start + i))),
      left,
      `${what} (${start} of ${items.length} done)`,
    );
  }
}

async function measure(spec: ServerSpec): Promise<Result> {
  const server = await RunningServer.start(spec);
  live.add(server);
  const open: Deno.TcpConn[] = [];
  try {
    await sleep(SETTLE_MS);
    const idleKb = await vmRssKb(server.pid);
    console.log(`${spec.name}: idle VmRSS ${(idleKb / 1024).toFixed(1)} MB`);

    let t = performance.now();
    const slots = Array.from({ length: conns }, (_, i) => i);
    await inBatches(slots, `${spec.name}: connect`, async () => {
      open.push(
        await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
      );
    });
    console.log(
      `${spec.name}: ${open.length} connected in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s`,
    );

    await sleep(SETTLE_MS);
    const connectedKb = await vmRssKb(server.pid);

    t = performance.now();
    let echoed = 0;
    await inBatches(open, `${spec.name}: echo check`, async (conn, i) => {
      const byte = i & 0xff;
      await conn.write(Uint8Array.of(byte));
      const got = new Uint8Array(1);
      if ((await conn.read(got)) === 1 && got[0] === byte) echoed++;
    });
    console.log(
      `${spec.name}: ${echoed}/${open.length} echoed in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s`,
    );
    server.assertAlive();

    await sleep(SETTLE_MS);
    const loadedKb = await vmRssKb(server.pid);
    if (echoed !== open.length) {
      throw new Error(`only ${echoed} of ${open.length} connections echoed`);
    }
    return {
      name: spec.name,
      idleKb,
      connectedKb,
      loadedKb,
      opened: open.length,
      echoed,
    };
  } finally {
    await withTimeout(
      Promise.resolve().then(() => {
        for (const conn of open) {
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        }
      }),
      PHASE_MS,
      `${spec.name}: close`,
    ).catch((error) => console.error(String(error)));
    await server.stop();
    live.delete(server);
  }
}
