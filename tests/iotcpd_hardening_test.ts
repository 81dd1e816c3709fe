/**
 * iotcpd against daemons that write more than their reply, and clients
 * that never read theirs: real processes, real sockets.
 */
import assert from "node:assert/strict";
import { readUntil, waitFor, within } from "./_helpers.ts";
import {
  ask,
  bytes,
  IotcpdProcess,
  ScriptDir,
  waitGone,
} from "./_iotcpd_helpers.ts";

// `ok LINE`, except: `many` answers with lines without end (the flood of
// F5, 200,000 lines there, made endless so that it is still running when
// the next request comes); `later`
// answers, then writes a line 0.2 s later; `frag` answers, then writes
// bytes without a newline 0.2 s later; `extra` answers, then writes a
// line 1 s later (after the next request has arrived).
const CHATTY_DAEMON = `
b100=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
while IFS= read -r line; do
  case $line in
    many) exec yes "$b100" ;;
    later) printf 'ok later\\n'; sleep 0.2; printf 'stray\\n' ;;
    frag) printf 'ok frag\\n'; sleep 0.2; printf 'no-newline' ;;
    extra) printf 'ok extra\\n'; sleep 1; printf 'extra\\n' ;;
    *) printf 'ok %s\\n' "$line" ;;
  esac
done`;

/** Polls the daemon table (bounded) until slot 0 runs another pid. */
async function replaced(
  iotcpd: IotcpdProcess,
  pid: number,
  ms = 5000,
): Promise<number> {
  // A respawn takes a few ms and sends no event: ask again shortly.
  return await waitFor(async () => {
    const now = (await iotcpd.daemons()).rows[0]!.pid;
    return now !== null && now !== pid ? now : undefined;
  }, { what: `d[0] pid ${pid} to be replaced`, ms, intervalMs: 20 });
}

Deno.test("iotcpd: a daemon's flood after its reply reaches no other client and is logged once", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("chatty.sh", CHATTY_DAEMON);
  await using iotcpd = await IotcpdProcess.start(["-d", daemon, "-n", "1"]);
  const flooder = (await iotcpd.daemons()).rows[0]!.pid!;
  const linesBefore = iotcpd.lines.length;
  assert.equal(await ask(iotcpd.port, "many"), `${"b".repeat(100)}\n`);
  // At once, with no wait: the flood came with the reply, so the daemon
  // was dirty before it could be offered again.
  const started = performance.now();
  assert.equal(await ask(iotcpd.port, "hi"), "ok hi\n");
  const hiMs = performance.now() - started;
  assert.ok(hiMs < 2000, `hi answered after ${hiMs} ms`);
  assert.equal(await ask(iotcpd.port, "hi2"), "ok hi2\n");
  assert.deepEqual(await waitGone([flooder], 5000), [], "the flooder is gone");
  await iotcpd.waitForLine(
    /d\[0\] pid \d+ wrote \d+ bytes \(\d+ newlines\) beyond its reply: killed, the rest unread; respawning in 0 ms$/,
  );
  const table = await iotcpd.settled();
  assert.notEqual(table.rows[0]!.pid, flooder);
  assert.equal(table.retiring, 0);
  // One line for the incident, not one per stray line.
  const logged = iotcpd.lines.slice(linesBefore);
  assert.equal(logged.filter((l) => /beyond its reply/.test(l)).length, 1);
  assert.ok(logged.length < 20, logged.slice(0, 30).join("\n"));
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries replied"], 3);
  assert.equal(stats.counters["daemon spawns"], 2);
});

Deno.test("iotcpd: a line or bytes written with no request pending make the daemon replaced before its next request", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("chatty.sh", CHATTY_DAEMON);
  await using iotcpd = await IotcpdProcess.start(["-d", daemon, "-n", "1"]);
  const first = (await iotcpd.daemons()).rows[0]!.pid!;
  // A whole line, 0.2 s after the reply, while the daemon is idle.
  assert.equal(await ask(iotcpd.port, "later"), "ok later\n");
  const second = await replaced(iotcpd, first);
  assert.equal(await ask(iotcpd.port, "hi"), "ok hi\n");
  // No newline at all: still output beyond the reply.
  assert.equal(await ask(iotcpd.port, "frag"), "ok frag\n");
  await replaced(iotcpd, second);
  assert.equal(await ask(iotcpd.port, "hi2"), "ok hi2\n");
  assert.deepEqual(await waitGone([first, second], 5000), []);
  assert.doesNotMatch(iotcpd.stderr, /no request pending/);
  await iotcpd.waitForLine(/d\[0\] pid \d+ wrote 6 bytes \(1 newlines\)/);
});

Deno.test("iotcpd: the race that remains: a line later than the next request answers it, once; then the daemon is replaced", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("chatty.sh", CHATTY_DAEMON);
  await using iotcpd = await IotcpdProcess.start(["-d", daemon, "-n", "1"]);
  const first = (await iotcpd.daemons()).rows[0]!.pid!;
  assert.equal(await ask(iotcpd.port, "extra"), "ok extra\n");
  // Sent while the daemon sleeps before its extra line: iotcpd cannot
  // tell that line from the answer (unless the machine stalled for 1 s,
  // in which case the line was seen first and a fresh daemon answers).
  const racer = await ask(iotcpd.port, "racer");
  assert.ok(
    racer === "extra\n" || racer === "ok racer\n",
    JSON.stringify(racer),
  );
  // The real answer to "racer" then arrives with nothing pending.
  await replaced(iotcpd, first);
  assert.equal(await ask(iotcpd.port, "next"), "ok next\n");
});

Deno.test("iotcpd --keep-alive resets a client that pipelines lines and never reads, within the idle timeout plus a tick", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "2",
    "--keep-alive",
    "--idle-timeout",
    "1",
    "-a",
    "0.2",
    "--max-conns",
    "1",
  ]);
  const line = bytes(`${"x".repeat(3999)}\n`);
  const flooder = await Deno.connect({
    hostname: "127.0.0.1",
    port: iotcpd.port,
  });
  const started = performance.now();
  let sent = 0;
  // Writes until iotcpd stops reading and the buffers are full; then the
  // write waits, until the reset fails it. Bounded in lines and time.
  const flood = (async () => {
    for (let i = 0; i < 100_000 && performance.now() - started < 20_000; i++) {
      for (let off = 0; off < line.length;) {
        off += await flooder.write(line.subarray(off));
      }
      sent++;
    }
  })();
  try {
    // Nothing more could be delivered: an RST, not a FIN, fails the write
    // that waits (unsent input is left in iotcpd: it stopped reading).
    await assert.rejects(
      within(10_000, "the flood to be reset", flood),
      Deno.errors.ConnectionReset,
    );
    const heldMs = performance.now() - started;
    // The idle timeout, one tick, and the time to fill the buffers.
    assert.ok(heldMs < 1000 + 200 + 2000, `reset after ${heldMs} ms`);
    // Logged once the slot is free.
    const match = await iotcpd.waitForLine(
      /reset 127\.0\.0\.1:\d+: a reply unread for (\d+) ms \(after (\d+) requests\)/,
    );
    assert.ok(Number(match[1]) >= 1000, match[0]);
    // Lines are read one at a time, each after the last reply left.
    assert.ok(Number(match[2]) <= sent, `${match[2]} of ${sent}`);
    // The slot is free: a new client gets its reply, not ERR.
    const probe = await Deno.connect({
      hostname: "127.0.0.1",
      port: iotcpd.port,
    });
    try {
      await probe.write(bytes("probe\n"));
      const { text } = await readUntil(probe, (t) => t.includes("\n"));
      assert.equal(text, "probe\n");
    } finally {
      probe.close();
    }
    assert.equal(
      iotcpd.lines.filter((l) => /reset 127\.0\.0\.1/.test(l)).length,
      1,
    );
  } finally {
    try {
      flooder.close();
    } catch {
      // Closed by the reset already.
    }
    await flood.catch(() => {});
  }
});
