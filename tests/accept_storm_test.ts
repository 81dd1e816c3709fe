/**
 * A port scanner's connect-then-reset: connections that die in the backlog
 * before the server accepts them must not stall accepting. The servers are
 * stopped (SIGSTOP) while 500 clients connect and reset, so every one of
 * them dies before its accept; then a probe must be answered within 1 s.
 */
import assert from "node:assert/strict";
import { closeWithReset } from "../ffi/mod.ts";
import {
  bytes,
  type CommandProcess,
  readUntil,
  ServerProcess,
  within,
} from "./_helpers.ts";
import { IotcpdProcess } from "./_iotcpd_helpers.ts";

const RESETS = 500;
const PROBE_MS = 1000;

/** The worker processes of a tcpservd master (its children). */
async function childrenOf(pid: number): Promise<number[]> {
  const out = await new Deno.Command("ps", {
    args: ["--ppid", String(pid), "-o", "pid="],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim())
    .filter((l) => l !== "").map(Number);
}

function signal(pids: number[], sig: Deno.Signal): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, sig);
    } catch {
      // Gone already; the test's own checks will say so.
    }
  }
}

/** Connects and resets at once (SO_LINGER {1,0}), RESETS times. */
async function connectAndReset(port: number): Promise<void> {
  for (let i = 0; i < RESETS; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    closeWithReset(conn);
  }
}

/**
 * Stops `pids`, sends the resets, resumes them, and returns how long the
 * probe then took, in ms.
 */
async function stormThenProbe(
  pids: number[],
  port: number,
  probe: (conn: Deno.TcpConn) => Promise<void>,
): Promise<number> {
  signal(pids, "SIGSTOP");
  try {
    await within(30000, "the resets", connectAndReset(port));
  } finally {
    signal(pids, "SIGCONT");
  }
  const start = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await within(PROBE_MS, "the probe's answer after the resets", probe(conn));
  } finally {
    conn.close();
  }
  return performance.now() - start;
}

async function promptProbe(conn: Deno.TcpConn): Promise<void> {
  const { text } = await readUntil(conn, (t) => t.endsWith("> "), PROBE_MS);
  assert.equal(text, "> ");
  await conn.write(bytes("getstatus\n"));
  const reply = await readUntil(conn, (t) => t.endsWith("\n> "), PROBE_MS);
  assert.equal(reply.text, "GOOD\n> ");
}

async function echoProbe(conn: Deno.TcpConn): Promise<void> {
  await conn.write(bytes("still there?\n"));
  const { text } = await readUntil(conn, (t) => t.endsWith("\n"), PROBE_MS);
  assert.equal(text, "still there?\n");
}

async function stormTcpservd(
  args: string[],
  probe: (conn: Deno.TcpConn) => Promise<void>,
  workers = false,
): Promise<void> {
  await using server = await ServerProcess.start(args);
  const pids = workers ? await childrenOf(server.pid) : [server.pid];
  assert.ok(pids.length > 0, "no worker found");
  await stormThenProbe(pids, server.port, probe);
  checkAlive(server);
}

function checkAlive(proc: CommandProcess): void {
  assert.equal(proc.exited, undefined, `server exited:\n${proc.stderr}`);
}

Deno.test("tcpservd answers at once after 500 connects that reset before accept", async () => {
  await stormTcpservd([], promptProbe);
});

Deno.test("tcpservd --echo --engine deno answers at once after 500 reset connects", async () => {
  await stormTcpservd(["--echo", "--engine", "deno"], echoProbe);
});

Deno.test("tcpservd --echo (epoll engine) answers at once after 500 reset connects", async () => {
  await stormTcpservd(["--echo"], echoProbe);
});

for (const engine of ["epoll", "deno"] as const) {
  Deno.test(`tcpservd --echo --engine ${engine}: connects reset in the backlog do not count towards --max-connections`, async () => {
    // The first real client after the storm is the first served: a scanner
    // must not retire the server.
    await stormTcpservd(
      ["--echo", "--engine", engine, "--max-connections", "1"],
      echoProbe,
    );
  });
}

Deno.test("tcpservd -w 2 workers answer at once after 500 reset connects", async () => {
  await stormTcpservd(["-w", "2"], promptProbe, true);
});

Deno.test("iotcpd answers at once after 500 connects that reset before accept", async () => {
  await using iotcpd = await IotcpdProcess.start(["-n", "1"]);
  // The first request waits for the daemon; make sure the pool is up first.
  await iotcpd.settled();
  await stormThenProbe([iotcpd.pid], iotcpd.port, async (conn) => {
    await conn.write(bytes("probe\n"));
    const { text } = await readUntil(conn, (t) => t.endsWith("\n"), PROBE_MS);
    assert.equal(text, "probe\n");
  });
  checkAlive(iotcpd);
});
