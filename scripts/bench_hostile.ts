// deno-lint-ignore-file no-console -- a benchmark script reports on stdout
/**
 * `deno task bench:hostile`: what hostile clients cost tcpservd (command
 * mode), each against a baseline measured side by side in the same run.
 *
 * - reset storm: the server is stopped (SIGSTOP) while N clients connect
 *   and reset (SO_LINGER {1,0}), so each dies in the backlog; then it is
 *   resumed and a probe (connect, prompt, `getstatus`, `GOOD`) is timed.
 *   Baseline: the same probe with no storm. Medians over rounds.
 * - fault flood: one client sends M `fault delay ms=1 p=0.000001` lines
 *   (only 64 are kept) while probes run; the server's CPU seconds and RSS
 *   growth, and the probes' median and worst latency against probes with
 *   no flood.
 * - idle memory: K idle connections (each got its prompt), the RSS above
 *   idle per connection, and the RSS once they all closed.
 *
 * Usage: deno task bench:hostile [--resets N] [--rounds R] [--faults M] [--idle K]
 */
import { parseArgs } from "node:util";
import { closeWithReset } from "../ffi/mod.ts";
import {
  clockTicksPerSecond,
  cpuTicks,
  machineLine,
  median,
  numberFlag,
  RunningServer,
  taskArgs,
  vmRssKb,
  withTimeout,
} from "./echo_bench_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    resets: { type: "string", default: "500" },
    rounds: { type: "string", default: "5" },
    faults: { type: "string", default: "50000" },
    idle: { type: "string", default: "5000" },
  },
});
const resets = Math.round(numberFlag("resets", values.resets, 1, 2000));
const rounds = Math.round(numberFlag("rounds", values.rounds, 1, 50));
const faults = Math.round(numberFlag("faults", values.faults, 1, 1_000_000));
const idle = Math.round(numberFlag("idle", values.idle, 1, 20000));

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function startServer(): Promise<RunningServer> {
  return RunningServer.start({
    name: "tcpservd",
    cmd: [
      Deno.execPath(),
      ...taskArgs("tcpservd"),
      "-a",
      "127.0.0.1",
      "-p",
      "0",
      "--max-conns",
      "30000",
    ],
  });
}

/** Reads until `done(text)`; bounded by 10 s. */
async function readUntil(
  conn: Deno.TcpConn,
  done: (text: string) => boolean,
): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!done(text)) {
    const n = await withTimeout(conn.read(buf), 10000, "a reply");
    if (n === null) throw new Error(`EOF; got ${JSON.stringify(text)}`);
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text;
}

/** One probe: connect, prompt, getstatus, GOOD; its time in ms. */
async function probe(port: number): Promise<number> {
  const start = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await readUntil(conn, (t) => t.endsWith("> "));
    await conn.write(encoder.encode("getstatus\n"));
    const reply = await readUntil(conn, (t) => t.endsWith("\n> "));
    if (reply !== "GOOD\n> ") throw new Error(`Probe got ${reply}`);
  } finally {
    conn.close();
  }
  return performance.now() - start;
}

async function resetStorm(): Promise<void> {
  const server = await startServer();
  try {
    const storm: number[] = [];
    const quiet: number[] = [];
    for (let round = 0; round < rounds; round++) {
      quiet.push(await probe(server.port));
      Deno.kill(server.pid, "SIGSTOP");
      try {
        for (let i = 0; i < resets; i++) {
          closeWithReset(
            await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
          );
        }
      } finally {
        Deno.kill(server.pid, "SIGCONT");
      }
      storm.push(await probe(server.port));
    }
    server.assertAlive();
    const [q, s] = [median(quiet), median(storm)];
    console.log(
      `reset storm (${resets} connects reset in the backlog, ${rounds} rounds): ` +
        `probe after the storm ${s.toFixed(1)} ms, without ${
          q.toFixed(1)
        } ms ` +
        `(${(s / q).toFixed(2)}x)`,
    );
  } finally {
    await server.stop();
  }
}

async function faultFlood(): Promise<void> {
  const server = await startServer();
  const hz = await clockTicksPerSecond();
  try {
    const quiet: number[] = [];
    for (let i = 0; i < 20; i++) quiet.push(await probe(server.port));
    const rss0 = await vmRssKb(server.pid);
    const cpu0 = await cpuTicks(server.pid);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    const flooded: number[] = [];
    try {
      await readUntil(conn, (t) => t.endsWith("> "));
      let done = false;
      // Replies are drained and dropped, so the flood is never held back.
      const drain = (async () => {
        const buf = new Uint8Array(65536);
        while (!done && (await conn.read(buf)) !== null) {
          // Dropped.
        }
      })().catch(() => {});
      const chunk = encoder.encode(
        "fault delay ms=1 p=0.000001\n".repeat(1000),
      );
      const flood = (async () => {
        for (let sent = 0; sent < faults; sent += 1000) await conn.write(chunk);
      })();
      let floodDone = false;
      flood.finally(() => floodDone = true);
      for (let i = 0; i < 1000 && (!floodDone || flooded.length < 20); i++) {
        flooded.push(await probe(server.port));
      }
      await flood;
      done = true;
      conn.close();
      await drain;
    } catch (error) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
      throw error;
    }
    const cpu = (await cpuTicks(server.pid) - cpu0) / hz;
    const rss = await vmRssKb(server.pid);
    server.assertAlive();
    const [q, f] = [median(quiet), median(flooded)];
    console.log(
      `fault flood (${faults} fault lines from one client): server ${
        cpu.toFixed(2)
      } CPU-s, RSS ${(rss0 / 1024).toFixed(0)} -> ${
        (rss / 1024).toFixed(0)
      } MB; probes during it median ${f.toFixed(1)} ms, worst ${
        Math.max(...flooded).toFixed(1)
      } ms; without it ${q.toFixed(1)} ms (${(f / q).toFixed(2)}x)`,
    );
  } finally {
    await server.stop();
  }
}

async function idleMemory(): Promise<void> {
  const server = await startServer();
  const conns: Deno.TcpConn[] = [];
  try {
    await probe(server.port);
    const rss0 = await vmRssKb(server.pid);
    for (let i = 0; i < idle; i += 500) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(500, idle - i) }, async () => {
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: server.port,
          });
          await readUntil(conn, (t) => t.endsWith("> "));
          return conn;
        }),
      );
      conns.push(...batch);
    }
    await probe(server.port);
    const rss1 = await vmRssKb(server.pid);
    for (const conn of conns.splice(0)) conn.close();
    // Every close is read by the server before the next probe is served.
    for (let i = 0; i < 3; i++) await probe(server.port);
    const rss2 = await vmRssKb(server.pid);
    server.assertAlive();
    console.log(
      `idle connections (${idle}): ${
        ((rss1 - rss0) / idle).toFixed(1)
      } KB each (RSS ${(rss0 / 1024).toFixed(0)} -> ${
        (rss1 / 1024).toFixed(0)
      } MB; ${(rss2 / 1024).toFixed(0)} MB once closed: V8 and the ` +
        `allocator keep freed memory for reuse)`,
    );
  } finally {
    for (const conn of conns) conn.close();
    await server.stop();
  }
}

console.log(machineLine());
await resetStorm();
await faultFlood();
await idleMemory();
