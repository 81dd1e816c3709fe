/**
 * tcpservd against hostile clients: slowloris, fault floods, leaked
 * sockets, and a full house that must still let the operator in.
 */
import assert from "node:assert/strict";
import {
  ask,
  bytes,
  CommandProcess,
  connect,
  readToEnd,
  readUntil,
  runTcpcli,
  ServerProcess,
  session,
  socketsInState,
  taskArgs,
  waitFor,
} from "./_helpers.ts";

/** Runs tcpservd to its exit (bounded), for usage errors. */
async function runTcpservd(
  args: string[],
): Promise<{ code: number; stderr: string }> {
  await using proc = new CommandProcess([...taskArgs("tcpservd"), ...args]);
  const status = await proc.wait(15000);
  return { code: status.code, stderr: proc.stderr };
}

/** Writes `chunk` every `ms` until `stop()` or `count` writes; errors end it. */
function trickle(conn: Deno.Conn, chunk: string, ms: number, count: number) {
  let stopped = false;
  const done = (async () => {
    for (let i = 0; i < count && !stopped; i++) {
      try {
        await conn.write(bytes(chunk));
      } catch {
        return; // Closed by the server: what the test waits for.
      }
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  })();
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}

Deno.test("tcpservd closes a client that trickles bytes without a newline (slowloris); whole lines keep a client", async () => {
  await using server = await ServerProcess.start(["--idle-timeout", "1"]);
  const slow = await session(server.port);
  const steady = await session(server.port);
  // A byte every 200 ms: five times within every idle period.
  const loris = trickle(slow, "x", 200, 50);
  const lines = trickle(steady, "hello\n", 200, 50);
  try {
    assert.equal(
      await readToEnd(slow, 5000),
      "Closing connection due to inactivity\n",
    );
    // The client sending whole lines was kept all along.
    lines.stop();
    await lines.done;
    const { text } = await readUntil(
      steady,
      (t) => (t.match(/hello\n> /g)?.length ?? 0) >= 1,
      2000,
    );
    assert.match(text, /hello\n> /);
    assert.doesNotMatch(text, /inactivity/);
  } finally {
    loris.stop();
    lines.stop();
    slow.close();
    steady.close();
    await Promise.all([loris.done, lines.done]);
  }
});

Deno.test("tcpservd does not take a trailing non-ASCII blank as part of a command", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    // U+00A0 (NO-BREAK SPACE) after getstatus: not a command, echoed.
    assert.equal(await ask(conn, "getstatus\u00a0"), "getstatus\u00a0\n");
    assert.equal(await ask(conn, "\u2003setbad"), "\u2003setbad\n");
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
    // ASCII blanks around a command are still trimmed.
    assert.equal(await ask(conn, " \tgetstatus \t"), "GOOD\n");
  } finally {
    conn.close();
  }
});

/** Connects and closes at once, `count` times (after the prompt, so the server saw it). */
async function connectAndClose(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const conn = await session(port);
    conn.close();
  }
}

Deno.test("fault leak keeps at most max sockets, never fills the table, and fault clear ends it", async () => {
  await using server = await ServerProcess.start(["--max-conns", "20"]);
  const control = await session(server.port);
  try {
    // max=50 is more than half of --max-conns 20: the ceiling of 10 wins.
    assert.match(await ask(control, "fault leak max=50"), /^OK fault 1: leak/);
    await connectAndClose(server.port, 40);
    await server.waitForLine(/leak: cap of 10 leaked sockets reached/);
    // Logged once, not once per connection past the cap.
    assert.equal(
      server.lines.filter((l) => /leaked sockets reached/.test(l)).length,
      1,
    );
    assert.equal(await socketsInState(server.port, "close-wait"), 10);
    // Everyone still gets in: leaks hold half the table at most.
    const probe = await session(server.port);
    try {
      assert.equal(await ask(probe, "getstatus"), "GOOD\n");
      assert.equal(await ask(probe, "fault clear"), "OK 1 faults cleared\n");
    } finally {
      probe.close();
    }
    // The leaked sockets are closed by the clear.
    // A socket's TCP state has no event to wait for: poll it.
    await waitFor(
      async () => await socketsInState(server.port, "close-wait") === 0,
      {
        what: "no socket left in CLOSE_WAIT after fault clear",
        ms: 5000,
        intervalMs: 50,
        tries: 100,
      },
    );
  } finally {
    control.close();
  }
});

Deno.test("tcpservd caps the fault list at 64, on the server and on one connection", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    // 1,000 faults in one write: 64 taken, the rest refused, and the server stays quick.
    const flood = "fault delay ms=1 p=0.000001\n".repeat(1000);
    await conn.write(bytes(flood));
    const { text } = await readUntil(
      conn,
      (t) => (t.match(/\n> /g)?.length ?? 0) >= 1000,
      20000,
    );
    assert.equal(text.match(/OK fault \d+: delay/g)?.length, 64);
    assert.equal(
      text.match(/ERR too many faults \(limit 64\)\n/g)?.length,
      936,
    );
    const list = await ask(conn, "fault list");
    assert.equal(list.split("\n").filter((l) => l !== "").length, 64);
    const probe = await runTcpcli(["127.0.0.1", String(server.port)]);
    assert.equal(probe.code, 0, probe.stdout + probe.stderr);
    assert.equal(await ask(conn, "fault clear"), "OK 64 faults cleared\n");
    // One connection's own faults (on=current) are capped too.
    const own = "fault delay ms=0 on=current\n".repeat(70);
    await conn.write(bytes(own));
    const mine = await readUntil(
      conn,
      (t) => (t.match(/\n> /g)?.length ?? 0) >= 70,
      20000,
    );
    assert.equal(
      mine.text.match(/OK fault on this connection/g)?.length,
      64,
    );
    assert.equal(
      mine.text.match(/ERR too many faults \(limit 64\)\n/g)?.length,
      6,
    );
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd refuses more than 64 --fault options with a usage error", async () => {
  const args = Array.from(
    { length: 65 },
    () => ["--fault", "delay ms=1 p=0"],
  ).flat();
  const result = await runTcpservd([...args, "-p", "0", "-a", "127.0.0.1"]);
  assert.equal(result.code, 64);
  assert.match(result.stderr, /Too many --fault options \(limit 64\)/);
});

Deno.test("SIGHUP clears the faults: the operator's way out of stall-accept", async () => {
  await using server = await ServerProcess.start(["--fault", "stall-accept"]);
  await server.waitForLine(/accepting stalled|state is/);
  const from = server.lines.length;
  server.kill("SIGHUP");
  await server.waitForLine(/SIGHUP: clearing 1 faults/, 5000, from);
  const conn = await session(server.port);
  try {
    assert.equal(await ask(conn, "fault list"), "no faults\n");
  } finally {
    conn.close();
  }
  assert.equal(server.exited, undefined);
});

Deno.test("tcpservd resets a client that pipelines commands and reads nothing, once the idle timeout passes", async () => {
  await using server = await ServerProcess.start([
    "--idle-timeout",
    "1",
    "--max-conns",
    "1",
  ]);
  const hog = await session(server.port);
  // Help replies are ~500 bytes: 20,000 of them fill every buffer on the way.
  const flood = bytes("help\n".repeat(20_000));
  const writing = hog.write(flood).catch(() => 0);
  try {
    await server.waitForLine(
      /resetting connection 1 from .*: it read nothing for \d+ s/,
      10000,
    );
    // Its slot is free again (--max-conns 1).
    const next = await session(server.port);
    try {
      assert.equal(await ask(next, "getstatus"), "GOOD\n");
    } finally {
      next.close();
    }
  } finally {
    hog.close();
    await writing;
  }
});

Deno.test("tcpservd does not run a last line cut by end of stream", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    await conn.write(bytes("setbad"));
    await conn.closeWrite();
    assert.equal(
      await readToEnd(conn),
      "ERR incomplete line: no newline before end of stream\n",
    );
  } finally {
    conn.close();
  }
  const probe = await runTcpcli(["127.0.0.1", String(server.port)]);
  assert.equal(probe.code, 0, "the state must still be GOOD");
});

Deno.test("tcpservd logs a few state changes a second, however many a client sends", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    await conn.write(bytes("setbad\nsetgood\n".repeat(20_000)));
    const { text } = await readUntil(
      conn,
      (t) => (t.match(/Status is GOOD\n> /g)?.length ?? 0) >= 20_000,
      30000,
    );
    assert.equal(text.match(/Status is BAD/g)?.length, 20_000);
  } finally {
    conn.close();
  }
  const changes = server.lines.filter((l) => /state (GOOD|BAD) -> /.test(l));
  // 40,000 changes in a second or a few: 10 lines a second are logged.
  assert.ok(changes.length <= 100, `${changes.length} state lines logged`);
  assert.ok(changes.length >= 10);
});

Deno.test("SIGHUP ends connections held by hang, so the operator gets back in", async () => {
  await using server = await ServerProcess.start([
    "--fault",
    "hang",
    "--max-conns",
    "3",
  ]);
  const hung = await Promise.all(
    [1, 2, 3].map(() => connect(server.port)),
  );
  try {
    // Each is served (accepted) but never answered.
    for (let id = 1; id <= 3; id++) {
      await server.waitForLine(
        new RegExp(`fault hang .* applied to connection ${id} from`),
      );
    }
    const from = server.lines.length;
    server.kill("SIGHUP");
    await server.waitForLine(/SIGHUP: clearing 1 faults/, 5000, from);
    // The server closes them: each reads its end of stream.
    for (const conn of hung) assert.equal(await readToEnd(conn, 5000), "");
    const probe = await runTcpcli(["127.0.0.1", String(server.port)]);
    assert.equal(probe.code, 0, probe.stdout + probe.stderr);
  } finally {
    for (const conn of hung) conn.close();
  }
});
