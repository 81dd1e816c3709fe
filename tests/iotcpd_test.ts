/**
 * iotcpd as a separate process, driven over real sockets, with real
 * daemons: cat, and shell scripts that crash, hang, print garbage or
 * nothing, or exit at start.
 */
import assert from "node:assert/strict";
import denoConfig from "../deno.json" with { type: "json" };
import { parentDeathWrapper } from "../pool/daemon_command.ts";
import { CommandProcess, isRunning, readUntil, waitFor } from "./_helpers.ts";
import {
  ask,
  bytes,
  exchange,
  iotcpdArgs,
  IotcpdProcess,
  pooled,
  ScriptDir,
  TEST_DAEMON,
  type Usr1Stats,
  waitGone,
} from "./_iotcpd_helpers.ts";

/** Asserts the counters of a SIGUSR1 block are consistent. */
function assertConsistent(
  stats: Usr1Stats,
  size: number,
  maxPending = Infinity,
): void {
  const c = stats.counters;
  const pending = c["queries total"]! - c["queries replied"]! -
    c["queries timeout"]! - c["queries failed"]!;
  // pending = queued + in flight, and in flight = S_BUSY.
  assert.ok(
    pending >= c["daemon S_BUSY"]! &&
      pending <= c["daemon S_BUSY"]! + maxPending,
    `pending ${pending}, busy ${c["daemon S_BUSY"]}:\n${
      stats.lines.join("\n")
    }`,
  );
  assert.equal(
    c["daemon S_AVAILABLE"]! + c["daemon S_BUSY"]! + c["daemon S_SPAWNING"]! +
      c["daemon S_STARTING"]!,
    size,
  );
  assert.ok(
    stats.buckets.reduce((a, b) => a + b) === c["queries replied"],
    "the histogram counts the replied requests",
  );
  assert.ok(c["queries delayed"]! <= c["queries total"]!);
}

Deno.test("iotcpd answers a line with the daemon's line, then closes", async () => {
  await using iotcpd = await IotcpdProcess.start(["-n", "2"]);
  assert.equal(await ask(iotcpd.port, "hello"), "hello\n");
  const binary = new Uint8Array([0x61, 0x00, 0xff, 0xfe, 0x0a]);
  assert.deepEqual((await exchange(iotcpd.port, binary)).reply, binary);
  // Without --keep-alive the second line is not a request.
  assert.equal((await exchange(iotcpd.port, "one\ntwo\n")).text, "one\n");
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries total"], 3);
  assert.equal(stats.counters["queries replied"], 3);
  assertConsistent(stats, 2);
});

Deno.test("iotcpd --keep-alive answers every line of a connection", async () => {
  await using iotcpd = await IotcpdProcess.start(["-n", "2", "--keep-alive"]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: iotcpd.port });
  try {
    await conn.write(bytes("a\nb\nc\n"));
    assert.equal(
      (await readUntil(conn, (t) => t === "a\nb\nc\n")).text,
      "a\nb\nc\n",
    );
    await conn.write(bytes("d\n"));
    assert.equal((await readUntil(conn, (t) => t === "d\n")).text, "d\n");
    await conn.closeWrite();
    assert.deepEqual(await readUntil(conn, () => false), {
      text: "",
      eof: true,
    });
  } finally {
    conn.close();
  }
});

Deno.test("iotcpd answers ERR to a line longer than --max-line and stays up", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "--max-line",
    "16",
  ]);
  assert.equal(await ask(iotcpd.port, "a".repeat(16)), `${"a".repeat(16)}\n`);
  assert.equal(await ask(iotcpd.port, "b".repeat(17)), "ERR\n");
  // 1 MB without a newline: ERR long before the end, never a hang.
  assert.equal(
    (await exchange(iotcpd.port, new Uint8Array(1 << 20).fill(0x63))).text,
    "ERR\n",
  );
  assert.equal(await ask(iotcpd.port, "after"), "after\n");
  await iotcpd.waitForLine(/longer than 16 bytes: ERR/);
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries failed"], 2);
  assertConsistent(stats, 1);
});

Deno.test("iotcpd answers ERR when no daemon is free within --queue-timeout", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("daemon.sh", TEST_DAEMON);
  await using iotcpd = await IotcpdProcess.start([
    "-d",
    daemon,
    "-n",
    "1",
    "--queue-timeout",
    "300",
  ]);
  const slow = exchange(iotcpd.port, "slow 1\n");
  await iotcpd.waitForLine(/stderr: got slow 1/);
  const queued = await exchange(iotcpd.port, "x\n");
  assert.equal(queued.text, "ERR\n");
  assert.ok(queued.ms >= 290 && queued.ms < 1500, `ERR after ${queued.ms} ms`);
  assert.equal((await slow).text, "slow slow 1\n");
  await iotcpd.waitForLine(/dropping request: no daemon free in 300 ms/);
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries delayed"], 1);
  assert.equal(stats.counters["queries timeout"], 1);
  assert.equal(stats.counters["queries replied"], 1);
  assertConsistent(stats, 1);
});

Deno.test("iotcpd kills a daemon past --busy-timeout, answers ERR within one tick, respawns", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("daemon.sh", TEST_DAEMON);
  await using iotcpd = await IotcpdProcess.start([
    "-d",
    daemon,
    "-n",
    "1",
    "-b",
    "1",
    "-a",
    "0.2",
  ]);
  const before = (await iotcpd.daemons()).rows[0]!.pid;
  const hang = await exchange(iotcpd.port, "hang\n");
  assert.equal(hang.text, "ERR\n");
  // Busy timeout plus one tick, plus scheduling slack.
  assert.ok(hang.ms >= 1000 && hang.ms < 1200 + 600, `ERR after ${hang.ms} ms`);
  await iotcpd.waitForLine(
    /d\[0\] - pid \d+ is killed for being 'busy' for \d+\.\ds/,
  );
  assert.equal(await ask(iotcpd.port, "after"), "ok after\n");
  const table = await iotcpd.daemons();
  assert.notEqual(table.rows[0]!.pid, before);
  assert.equal(table.rows[0]!.kills, 1);
  // A daemon that ignores SIGTERM gets SIGKILL after the grace.
  assert.equal(await ask(iotcpd.port, "deaf"), "ERR\n");
  await iotcpd.waitForLine(
    /pid \d+ \(killed for being busy\) ended: exited \(signal SIGKILL\)/,
  );
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries timeout"], 2);
  assert.equal(stats.counters["daemon spawns"], 3);
  assertConsistent(stats, 1);
});

Deno.test("iotcpd answers ERR for a daemon that crashes on its input, logs its stderr, respawns it", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("daemon.sh", TEST_DAEMON);
  await using iotcpd = await IotcpdProcess.start(["-d", daemon, "-n", "1"]);
  const crash = await exchange(iotcpd.port, "crash now\n");
  assert.equal(crash.text, "ERR\n");
  assert.ok(crash.ms < 1000, `ERR after ${crash.ms} ms`);
  await iotcpd.waitForLine(/d\[0\] pid \d+ stderr: crashing on crash now/);
  await iotcpd.waitForLine(
    /daemon d\[0\] \(pid \d+\) has died: exited \(code 3\)/,
  );
  assert.equal(await ask(iotcpd.port, "next"), "ok next\n");
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries failed"], 1);
  assert.equal(stats.counters["daemon spawns"], 2);
  assertConsistent(stats, 1);
});

Deno.test("iotcpd answers ERR for garbage, silence and a broken-off line; a late line reaches nobody", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("daemon.sh", TEST_DAEMON);
  await using iotcpd = await IotcpdProcess.start([
    "-d",
    daemon,
    "-n",
    "1",
    "-b",
    "1",
    "-a",
    "0.2",
  ]);
  // 10,000 bytes without a newline: too long, killed at once.
  const garbage = await exchange(iotcpd.port, "garbage\n");
  assert.equal(garbage.text, "ERR\n");
  assert.ok(garbage.ms < 1000, `ERR after ${garbage.ms} ms`);
  await iotcpd.waitForLine(/has died: reply-too-long/);
  // Half a line, then exit: the daemon died mid-request.
  assert.equal(await ask(iotcpd.port, "partial"), "ERR\n");
  // Nothing at all: the busy timeout answers.
  const silent = await exchange(iotcpd.port, "silent\n");
  assert.equal(silent.text, "ERR\n");
  assert.ok(silent.ms >= 1000 && silent.ms < 1800, `ERR after ${silent.ms} ms`);
  // Answers after its busy timeout (ignoring SIGTERM meanwhile): the late
  // line must not reach the next client.
  assert.equal(await ask(iotcpd.port, "late"), "ERR\n");
  assert.equal(await ask(iotcpd.port, "after"), "ok after\n");
  const from = iotcpd.lines.length;
  await iotcpd.waitForLine(
    /\(killed for being busy\) ended: exited \(signal SIGKILL\)/,
    5000,
    from,
  );
  assert.equal(await ask(iotcpd.port, "again"), "ok again\n");
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries replied"], 2);
  assert.equal(stats.counters["queries timeout"], 2);
  assert.equal(stats.counters["queries failed"], 2);
  assertConsistent(stats, 1);
});

Deno.test("iotcpd keeps answering ERR while a daemon exits at start, with backoff", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-d",
    "sh -c 'exit 1'",
    "-n",
    "2",
    "--queue-timeout",
    "200",
  ]);
  for (let i = 0; i < 5; i++) {
    const result = await exchange(iotcpd.port, `x${i}\n`);
    assert.equal(result.text, "ERR\n");
    assert.ok(result.ms < 1000, `ERR after ${result.ms} ms`);
  }
  await iotcpd.waitForLine(/has died: .*; respawning in (\d{3,}) ms/);
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries replied"], 0);
  assert.equal(
    stats.counters["queries failed"]! + stats.counters["queries timeout"]!,
    5,
  );
  // Backoff: a few spawns per slot, not a spawn storm.
  assert.ok(stats.counters["daemon spawns"]! < 60, stats.lines.join("\n"));
  assertConsistent(stats, 2);
  assert.equal(iotcpd.exited, undefined, "iotcpd stays up");
});

Deno.test("iotcpd SIGUSR1 prints the original's block, SIGUSR2 the daemon table, --stats-json both", async () => {
  await using dir = await ScriptDir.create();
  const json = `${dir.path}/stats.json`;
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "3",
    "--max-line",
    "16",
    "--stats-json",
    json,
  ]);
  for (let i = 0; i < 5; i++) {
    assert.equal(await ask(iotcpd.port, `r${i}`), `r${i}\n`);
  }
  assert.equal(await ask(iotcpd.port, "x".repeat(20)), "ERR\n");
  assert.equal(
    (await exchange(iotcpd.port, "", { closeWrite: true })).text,
    "",
  );
  const stats = await iotcpd.statistics();
  assert.deepEqual(
    [
      "queries total",
      "queries replied",
      "queries delayed",
      "queries timeout",
      "queries failed",
      "queries unknown",
      "daemon spawns",
      "daemon S_BUSY",
      "daemon S_SPAWNING",
    ].map((label) => stats.counters[label]),
    [6, 5, 0, 0, 1, 1, 3, 0, 0],
  );
  assert.equal(stats.version, denoConfig.version);
  assertConsistent(stats, 3);
  const table = await iotcpd.daemons();
  assert.equal(table.rows.length, 3);
  assert.equal(table.retiring, 0);
  const children = (await iotcpd.children()).map((c) => c.pid).sort();
  assert.deepEqual(table.rows.map((r) => r.pid).sort(), children);
  assert.equal(table.rows.reduce((sum, r) => sum + r.replies, 0), 5);
  // The file was rewritten by the signals just sent.
  const doc = await waitFor(async () => {
    const parsed = JSON.parse(await Deno.readTextFile(json));
    return parsed.queries.total === 6 ? parsed : undefined;
  }, { what: "stats.json with 6 queries", ms: 5000, intervalMs: 20 });
  assert.equal(doc.pid, iotcpd.pid);
  assert.equal(doc.queries.replied, 5);
  assert.equal(doc.queries.queued + doc.queries.inFlight, 0);
  assert.equal(doc.failures["line-too-long"], 1);
  assert.equal(doc.daemonTable.length, 3);
  // Every replied request is in exactly one latency bucket.
  assert.equal(
    Object.values(doc.latencyMs as Record<string, number>).reduce(
      (sum, n) => sum + n,
      0,
    ),
    doc.queries.replied,
  );
});

Deno.test("iotcpd loses no client over 10,000 requests, 5% of them crashing a daemon; no fd or child leaks", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("daemon.sh", TEST_DAEMON);
  await using iotcpd = await IotcpdProcess.start([
    "-d",
    daemon,
    "-n",
    "4",
    "--queue-timeout",
    "20000",
  ]);
  const total = 10_000;
  const half = total / 2;
  const crashes = (i: number) => i % 20 === 7;
  const lost: string[] = [];
  let done = 0;
  let underLoad: Promise<Usr1Stats> | undefined;
  // Two halves with a quiet pool in between: the fd count after the first
  // half (Deno's lazily opened fds included: its inspector opens 5 at the
  // first SIGUSR1) is the baseline for the second.
  const run = async (from: number) => {
    const replies = await pooled(half, 50, async (j) => {
      const i = from + j;
      const line = crashes(i) ? `crash ${i}` : `req ${i}`;
      const text = await ask(iotcpd.port, line, { ms: 30000 });
      if (++done % half === half / 2) underLoad = iotcpd.statistics();
      return text;
    });
    replies.forEach((text, j) => {
      const i = from + j;
      const expected = crashes(i) ? "ERR\n" : `ok req ${i}\n`;
      if (text !== expected) lost.push(`${i}: ${JSON.stringify(text)}`);
    });
    // Under load the counters still add up: pending ≤ the 50 clients.
    assertConsistent(await underLoad!, 4, 50);
    return await iotcpd.settled();
  };
  await run(0);
  const fdsBefore = await iotcpd.fdCount();
  const table = await run(half);
  const fdsAfter = await iotcpd.fdCount();
  assert.deepEqual(lost.slice(0, 10), [], `${lost.length} wrong replies`);

  const stats = await iotcpd.statistics();
  const c = stats.counters;
  assert.equal(c["queries total"], total);
  assert.equal(c["queries replied"], total - total / 20);
  assert.equal(c["queries failed"], total / 20);
  assert.equal(c["queries timeout"], 0);
  // Every crash, and nothing else, cost one daemon: no spurious deaths.
  assert.equal(c["daemon spawns"], 4 + total / 20);
  assertConsistent(stats, 4, 0);
  const children = await iotcpd.children();
  assert.deepEqual(
    children.filter((child) => child.state.startsWith("Z")),
    [],
    "no zombie",
  );
  assert.deepEqual(
    children.map((child) => child.pid).sort(),
    table.rows.map((row) => row.pid).sort(),
    "exactly the pool's daemons",
  );
  assert.ok(
    fdsAfter <= fdsBefore,
    `fds before ${fdsBefore}, after ${fdsAfter}`,
  );
});

Deno.test("iotcpd SIGHUP under load restarts every daemon and fails no request", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "4",
    "--queue-timeout",
    "20000",
  ]);
  const before = (await iotcpd.daemons()).rows.map((r) => r.pid);
  const total = 3000;
  let done = 0;
  const replies = await pooled(total, 50, async (i) => {
    const text = await ask(iotcpd.port, `hup ${i}`, { ms: 30000 });
    done++;
    if (done === 500 || done === 1500 || done === 2500) iotcpd.kill("SIGHUP");
    return text;
  });
  const wrong = replies.filter((text, i) => text !== `hup ${i}\n`);
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} failed requests`);
  const table = await iotcpd.settled();
  assert.ok(table.rows.every((r) => !before.includes(r.pid)), "all replaced");
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries replied"], total);
  assert.equal(stats.counters["queries failed"], 0);
  assert.equal(stats.counters["queries timeout"], 0);
  assert.equal(stats.counters["daemon spawns"], 4 * 4);
  assertConsistent(stats, 4, 0);
  assert.equal((await iotcpd.children()).length, 4, "old daemons are gone");
});

Deno.test("iotcpd SIGTERM finishes the request in flight, answers ERR to a client that asked nothing, exits 0", async () => {
  await using dir = await ScriptDir.create();
  const daemon = await dir.script("daemon.sh", TEST_DAEMON);
  await using iotcpd = await IotcpdProcess.start(["-d", daemon, "-n", "2"]);
  const pids = (await iotcpd.daemons()).rows.map((r) => r.pid!);
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: iotcpd.port });
  try {
    const slow = exchange(iotcpd.port, "slow z\n");
    await iotcpd.waitForLine(/stderr: got slow z/);
    iotcpd.kill("SIGTERM");
    assert.equal((await slow).text, "slow slow z\n");
    // Accepted, but no line within the drain's grace: ERR, not silence.
    assert.deepEqual(await readUntil(idle, () => false), {
      text: "ERR\n",
      eof: true,
    });
    assert.equal((await iotcpd.wait()).code, 0);
  } finally {
    idle.close();
  }
  assert.deepEqual(await waitGone(pids, 1000), []);
  assert.match(iotcpd.stderr, /stopped: 1 requests, 1 replied/);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: iotcpd.port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("iotcpd SIGTERM stops daemons that ignore end of file and SIGTERM", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-d",
    "sh -c \"trap '' TERM; exec sleep 60\"",
    "-n",
    "2",
  ]);
  const pids = (await iotcpd.daemons()).rows.map((r) => r.pid!);
  iotcpd.kill("SIGTERM");
  assert.equal((await iotcpd.wait()).code, 0);
  assert.deepEqual(await waitGone(pids, 1000), []);
});

// The SIGKILL guarantee rests on `setpriv --pdeathsig` (util-linux).
const HAS_PDEATHSIG = (await parentDeathWrapper()).length > 0;

Deno.test({
  name: "iotcpd's daemons die with it, even by SIGKILL",
  ignore: !HAS_PDEATHSIG,
}, async () => {
  // sleep never reads stdin: only the parent-death signal can stop it.
  await using iotcpd = await IotcpdProcess.start(["-d", "sleep 60", "-n", "3"]);
  const pids = (await iotcpd.daemons()).rows.map((r) => r.pid!);
  assert.equal(pids.length, 3);
  for (const pid of pids) assert.ok(await isRunning(pid));
  iotcpd.kill("SIGKILL");
  await iotcpd.wait();
  assert.deepEqual(await waitGone(pids, 3000), [], "daemons outlived iotcpd");
});

Deno.test("iotcpd -I listens on IPv6 too, on the same port, IPv4 line first", async () => {
  await using iotcpd = await IotcpdProcess.start(["-n", "1", "-I", "::1"]);
  const second = await iotcpd.waitForLine(/listening on \[::1\]:(\d+)/);
  assert.equal(Number(second[1]), iotcpd.port);
  const first = iotcpd.lines.findIndex((l) =>
    /listening on 127\.0\.0\.1:/.test(l)
  );
  const six = iotcpd.lines.findIndex((l) => /listening on \[::1\]/.test(l));
  assert.ok(first >= 0 && first < six);
  assert.equal(await ask(iotcpd.port, "six", { hostname: "::1" }), "six\n");
  assert.equal(await ask(iotcpd.port, "four"), "four\n");
});

Deno.test("iotcpd closes a client that sends no complete line; a started line gets ERR", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "--idle-timeout",
    "0.3",
    "-a",
    "0.1",
  ]);
  const partial = await exchange(iotcpd.port, "no newline");
  assert.equal(partial.text, "ERR\n");
  assert.ok(partial.ms >= 290 && partial.ms < 1500, `after ${partial.ms} ms`);
  const silent = await exchange(iotcpd.port, "");
  assert.equal(silent.text, "");
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries unknown"], 2);
  assert.equal(stats.counters["queries total"], 0);
});

Deno.test("iotcpd answers ERR past --max-conns", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "--max-conns",
    "2",
  ]);
  const a = await Deno.connect({ hostname: "127.0.0.1", port: iotcpd.port });
  const b = await Deno.connect({ hostname: "127.0.0.1", port: iotcpd.port });
  try {
    assert.equal((await exchange(iotcpd.port, "c\n")).text, "ERR\n");
    await a.write(bytes("a\n"));
    assert.equal((await readUntil(a, () => false)).text, "a\n");
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("iotcpd --shell runs the daemon through /bin/sh; --log-format json", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "--shell",
    "-d",
    'while read -r l; do echo "sh:$l"; done',
    "-n",
    "1",
    "--log-format",
    "json",
  ]);
  assert.equal(await ask(iotcpd.port, "x y"), "sh:x y\n");
  const records = iotcpd.lines.filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
  assert.ok(
    records.some((r) => /^listening on 127\.0\.0\.1:\d+$/.test(r.message)),
  );
});

Deno.test("iotcpd --help prints usage on stdout and exits 0; -V prints the version", async () => {
  await using help = new CommandProcess(iotcpdArgs(["--help"]));
  assert.equal((await help.wait()).code, 0);
  assert.match(help.stdout, /^USAGE:\n {2}iotcpd \[OPTIONS\]\n/);
  await using version = new CommandProcess(iotcpdArgs(["-V"]));
  assert.equal((await version.wait()).code, 0);
  assert.equal(version.stdout, `iotcpd ${denoConfig.version}\n`);
});

Deno.test("iotcpd rejects an unknown option with exit 64 and usage on stderr", async () => {
  await using proc = new CommandProcess(iotcpdArgs(["-x"]));
  assert.equal((await proc.wait()).code, 64);
  assert.equal(proc.stdout, "");
  assert.match(proc.lines[0] ?? "", /^iotcpd: Unknown option '-x'$/);
  assert.match(proc.stderr, /USAGE:/);
});

Deno.test("iotcpd exits 71 when the port is taken or the daemon cannot start", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using busy = new CommandProcess(
    iotcpdArgs(["-p", String(taken.addr.port), "-n", "1"]),
  );
  assert.equal((await busy.wait()).code, 71);
  assert.match(busy.stderr, /cannot listen on 127\.0\.0\.1:\d+: .*in use/i);
  await using missing = new CommandProcess(
    iotcpdArgs(["-p", "0", "-d", "no-such-daemon-iotcpd --flag"]),
  );
  assert.equal((await missing.wait()).code, 71);
  assert.match(
    missing.stderr,
    /Cannot start daemon "no-such-daemon-iotcpd --flag"/,
  );
});
