/**
 * tcpservd against hostile clients: slowloris, fault floods, leaked
 * sockets, and a full house that must still let the operator in.
 */
import assert from "node:assert/strict";
import {
  ask,
  bytes,
  readToEnd,
  readUntil,
  ServerProcess,
  session,
} from "./_helpers.ts";

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
