/**
 * `takeover server` out of fds (prlimit), as remote clients can make it
 * (it has no connection limit): the offer socket does not spin, each
 * episode of failed accepts is logged once, and a handover, the way out,
 * still goes through.
 */
import assert from "node:assert/strict";
import { CommandProcess, within } from "./_helpers.ts";
import {
  openTempDir,
  TAKEOVER_RUN,
  TakeoverProcess,
} from "./_takeover_helpers.ts";

const PRLIMIT = "/usr/bin/prlimit";
const HAS_PRLIMIT = (() => {
  try {
    return Deno.statSync(PRLIMIT).isFile;
  } catch {
    return false;
  }
})();

/** The fd limit of the old process: room for a few dozen connections. */
const NOFILE = 128;
/** More TCP connections than that: the rest wait in the listen queue. */
const CONNS = 150;

/** CPU time (user + system) a process has used, in seconds, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  // Through cat: the test task has no --allow-all to read /proc itself.
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] })
    .output();
  if (!out.success) throw new Error(`No /proc/${pid}/stat`);
  const text = new TextDecoder().decode(out.stdout);
  // Fields after the command name in parentheses: state is the first,
  // utime the 12th, stime the 13th, in clock ticks (100 a second).
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function seqnum(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

/** Sends a seqnum and reads its echo (bounded). */
async function roundTrip(conn: Deno.Conn, n: number): Promise<void> {
  await conn.write(seqnum(n));
  const got = new Uint8Array(4);
  await within(
    10000,
    `the echo of seqnum ${n}`,
    (async () => {
      for (let have = 0; have < 4;) {
        const read = await conn.read(got.subarray(have));
        if (read === null) throw new Error(`EOF after ${have} bytes`);
        have += read;
      }
    })(),
  );
  assert.deepEqual(got, seqnum(n));
}

Deno.test({
  name:
    "takeover server out of fds: no spin on the offer socket, one log line per episode, and the handover goes through",
  ignore: !HAS_PRLIMIT,
  async fn() {
    await using dir = await openTempDir();
    const path = `${dir.path}/takeover.sock`;
    await using old = new CommandProcess([
      `--nofile=${NOFILE}`,
      Deno.execPath(),
      ...TAKEOVER_RUN,
      "server",
      "-a",
      "127.0.0.1",
      "-p",
      "0",
      "-t",
      path,
    ], { command: PRLIMIT });
    const port = Number(
      (await old.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1],
    );
    const conns: Deno.Conn[] = [];
    const askers: Deno.Conn[] = [];
    try {
      for (let i = 0; i < CONNS; i++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      await old.waitForLine(
        /cannot accept on 127\.0\.0\.1:\d+: .*EMFILE/,
      );

      // A silent asker takes the spare fd's slot; a second one then waits
      // in the queue, which stays readable while no fd is free: for the
      // first one's hello timeout (1 s) the offer socket must not spin.
      const cpuBefore = await cpuSeconds(old.pid);
      askers.push(await Deno.connect({ transport: "unix", path }));
      await old.waitForLine(/out of fds: a takeover asker .* spare fd's slot/);
      askers.push(await Deno.connect({ transport: "unix", path }));
      await old.waitForLine(
        /cannot accept on the takeover socket .*EMFILE.*; retrying every 100 ms/,
      );
      const abandoned = /takeover request from pid \d+ abandoned/;
      await old.waitForLine(abandoned);
      const cpu = (await cpuSeconds(old.pid)) - cpuBefore;
      assert.ok(cpu < 0.5, `${cpu.toFixed(2)} s of CPU in about 1 s`);
      // The second gets the spare back once the first is gone.
      const from = old.lines.findIndex((line) => abandoned.test(line)) + 1;
      await old.waitForLine(/out of fds: a takeover asker/, 15000, from);
      for (const asker of askers.splice(0)) asker.close();
      await old.waitForLine(abandoned, 15000, from);

      // The way out: a new process (not limited) takes everything over.
      await using next = await TakeoverProcess.start(["-T", path]);
      const took = Number(
        (await next.waitForLine(/took over (\d+) connections/))[1],
      );
      assert.ok(took > 0 && took < CONNS, `took over ${took}`);
      assert.equal((await old.wait()).code, 0);
      // One line per episode: the TCP listener failed every 100 ms for
      // seconds, the offer socket for a second.
      const tcpLines = old.lines.filter((line) =>
        /cannot accept on 127\.0\.0\.1/.test(line)
      );
      assert.equal(tcpLines.length, 1, old.stderr);
      assert.match(
        old.stderr,
        /stopped accepting on 127\.0\.0\.1:\d+ after \d+ failed accepts in [\d.]+ s/,
      );
      // Nothing was lost: one the old process served, and one that waited
      // in the listen queue, which moved with the listener.
      await roundTrip(conns[0]!, 1);
      await roundTrip(conns[CONNS - 1]!, 2);
    } finally {
      for (const asker of askers) asker.close();
      for (const conn of conns) conn.close();
    }
  },
});

Deno.test({
  name:
    "takeover server --max-conns under the fd limit: it never runs out of fds, the rest wait in the listen queue",
  ignore: !HAS_PRLIMIT,
  async fn() {
    await using old = new CommandProcess([
      `--nofile=${NOFILE}`,
      Deno.execPath(),
      ...TAKEOVER_RUN,
      "server",
      "-a",
      "127.0.0.1",
      "-p",
      "0",
      "--max-conns",
      "50",
    ], { command: PRLIMIT });
    const port = Number(
      (await old.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1],
    );
    const conns: Deno.Conn[] = [];
    try {
      for (let i = 0; i < CONNS; i++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      await old.waitForLine(
        /50 connections open \(limit 50\): not accepting until one closes/,
      );
      await roundTrip(conns[0]!, 1);
      // The queue is first in, first out: the 51st is next.
      conns[0]!.close();
      await roundTrip(conns[50]!, 2);
      assert.doesNotMatch(old.stderr, /cannot accept/);
    } finally {
      for (const conn of conns.slice(1)) conn.close();
    }
  },
});
