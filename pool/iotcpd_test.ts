import assert from "node:assert/strict";
import { DaemonSpawnError } from "./daemon.ts";
import { Iotcpd } from "./iotcpd.ts";
import { readToEnd, waitFor } from "../tests/_helpers.ts";

const encoder = new TextEncoder();

async function exchange(
  port: number,
  text: string,
  hostname = "127.0.0.1",
): Promise<string> {
  const conn = await Deno.connect({ hostname, port });
  try {
    await conn.write(encoder.encode(text));
    return await readToEnd(conn);
  } finally {
    conn.close();
  }
}

/** Connects, then proves the connection accepted: a later one got its reply. */
async function acceptedConn(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // Connections are accepted in order, and each handler starts reading
    // at once: after this round trip, `conn` is being read.
    assert.equal(await exchange(port, "probe\n"), "probe\n");
  } catch (error) {
    conn.close();
    throw error;
  }
  return conn;
}

/**
 * Shuts down, and resolves once a new connection fails: the listening
 * socket is closed (refused), or closed during the handshake (reset), so
 * the drain has begun.
 */
async function startShutdown(
  iotcpd: Iotcpd,
  port: number,
): Promise<{ stopping: Promise<void> }> {
  // Wrapped: an async function would wait for a promise it returns.
  const stopping = iotcpd.shutdown();
  // Deno closes the listening socket once its pending accept is dropped, a
  // turn of the event loop later: a connect may still land in the backlog
  // until then (and is reset). Bounded: 50 tries, about 1 s.
  await waitFor(async () => {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return false;
    } catch (error) {
      assert.ok(
        error instanceof Deno.errors.ConnectionRefused ||
          error instanceof Deno.errors.ConnectionReset,
        String(error),
      );
      return true;
    }
  }, {
    what: "no more connections accepted after shutdown()",
    tries: 51,
    intervalMs: 20,
  });
  return { stopping };
}

Deno.test("Iotcpd answers one line per connection, then closes", async () => {
  await using iotcpd = await Iotcpd.start({ port: 0, numDaemons: 2 });
  const { port } = iotcpd.addrs[0]!;
  assert.equal(await exchange(port, "hello\n"), "hello\n");
  // Without keep-alive a second line is not a request; a CRLF reaches
  // the daemon (cat) as it is, so it comes back.
  assert.equal(await exchange(port, "one\r\ntwo\n"), "one\r\n");
  const snapshot = iotcpd.snapshot();
  assert.equal(snapshot.queries.total, 2);
  assert.equal(snapshot.queries.replied, 2);
  assert.match(iotcpd.statisticsText(), /^queries replied {4}2$/m);
  assert.match(iotcpd.daemonTableText(), /^d\[1\] /m);
  assert.equal(iotcpd.statisticsJson().daemonTable.length, 2);
});

Deno.test("Iotcpd with keepAlive answers every line of a connection", async () => {
  await using iotcpd = await Iotcpd.start({
    port: 0,
    numDaemons: 1,
    keepAlive: true,
  });
  const { port } = iotcpd.addrs[0]!;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode("a\nb\nc\n"));
    await conn.closeWrite();
    assert.equal(await readToEnd(conn), "a\nb\nc\n");
  } finally {
    conn.close();
  }
});

Deno.test("Iotcpd counts a connection without a request as unknown", async () => {
  await using iotcpd = await Iotcpd.start({ port: 0, numDaemons: 1 });
  const { port } = iotcpd.addrs[0]!;
  const quiet = await Deno.connect({ hostname: "127.0.0.1", port });
  await quiet.closeWrite();
  assert.equal(await quiet.read(new Uint8Array(16)), null, "closed, no reply");
  quiet.close();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.close();
  // A full round trip after: both hang-ups have been seen by then.
  assert.equal(await exchange(port, "x\n"), "x\n");
  const { queries } = iotcpd.snapshot();
  assert.equal(queries.total, 1);
  assert.ok(queries.unknown >= 1 && queries.unknown <= 2);
});

Deno.test("Iotcpd.start() rejects a missing program before spawning anything", async () => {
  await assert.rejects(
    Iotcpd.start({ port: 0, command: ["no-such-program-iotcpd"] }),
    DaemonSpawnError,
  );
});

Deno.test("Iotcpd.start() stops its daemons when the port is taken", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await assert.rejects(
    Iotcpd.start({ port: taken.addr.port, numDaemons: 2 }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("Iotcpd.shutdown() finishes the request in flight", async () => {
  const iotcpd = await Iotcpd.start({
    port: 0,
    numDaemons: 1,
    command: [
      "sh",
      "-c",
      'while read -r l; do sleep 0.2; echo "done $l"; done',
    ],
  });
  const { port } = iotcpd.addrs[0]!;
  const reply = exchange(port, "x\n");
  // The request is in flight once the daemon is busy.
  await waitFor(() => iotcpd.snapshot().queries.inFlight > 0, {
    what: "a query in flight",
    intervalMs: 5,
  });
  const stopping = iotcpd.shutdown();
  assert.equal(await reply, "done x\n");
  await stopping;
  await iotcpd.finished;
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("Iotcpd.shutdown() serves a line that an accepted client sends after the drain began", async () => {
  await using iotcpd = await Iotcpd.start({ port: 0, numDaemons: 1 });
  const { port } = iotcpd.addrs[0]!;
  using early = await acceptedConn(port);
  const { stopping } = await startShutdown(iotcpd, port);
  await early.write(encoder.encode("late\n"));
  assert.equal(await readToEnd(early), "late\n");
  await stopping;
});

Deno.test("Iotcpd.shutdown() answers ERR to an accepted client that sends no line within the grace", async () => {
  await using iotcpd = await Iotcpd.start({
    port: 0,
    numDaemons: 1,
    drainGraceMs: 100,
  });
  const { port } = iotcpd.addrs[0]!;
  using early = await acceptedConn(port);
  const started = performance.now();
  const { stopping } = await startShutdown(iotcpd, port);
  assert.equal(await readToEnd(early), "ERR\n");
  assert.ok(performance.now() - started >= 90, "not before the grace");
  // The ERR's lingering close waits for the client's close.
  early.close();
  await stopping;
  // The probe was a request; this one was not.
  assert.equal(iotcpd.snapshot().queries.unknown, 1);
});

Deno.test("Iotcpd.shutdown() with keepAlive serves the lines already received, then closes", async () => {
  await using iotcpd = await Iotcpd.start({
    port: 0,
    numDaemons: 1,
    keepAlive: true,
    drainGraceMs: 50,
    command: [
      "sh",
      "-c",
      'while read -r l; do sleep 0.2; echo "done $l"; done',
    ],
  });
  const { port } = iotcpd.addrs[0]!;
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("a\nb\n"));
  // `b` waits in iotcpd's buffer while `a` is in flight.
  await waitFor(() => iotcpd.snapshot().queries.inFlight > 0, {
    what: "a query in flight",
    intervalMs: 5,
  });
  const stopping = iotcpd.shutdown();
  assert.equal(await readToEnd(conn), "done a\ndone b\n");
  // The lingering close after the grace waits for the client's close.
  conn.close();
  await stopping;
});

Deno.test("Iotcpd with keepAlive resets a client that leaves its replies unread past the idle timeout", async () => {
  const idleTimeoutMs = 300;
  await using iotcpd = await Iotcpd.start({
    port: 0,
    numDaemons: 1,
    keepAlive: true,
    idleTimeoutMs,
    tickMs: 100,
    maxLine: 1 << 20,
    // 200,000 bytes per reply: a few fill the socket buffers.
    command: [
      "sh",
      "-c",
      'while read -r l; do printf "%0200000d\\n" 0; done',
    ],
  });
  const { port } = iotcpd.addrs[0]!;
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  // 200 bytes: read in iotcpd's first read, so no input is left unread
  // when it gives up, and only SO_LINGER (FFI) can make that close an RST.
  await conn.write(encoder.encode("x\n".repeat(100)));
  const started = performance.now();
  await waitFor(() => iotcpd.connectionCount === 0, {
    what: "iotcpd to close the connection",
    ms: 5000,
    intervalMs: 5,
  });
  const heldMs = performance.now() - started;
  // Idle timeout, plus up to one sweep, plus the time to fill the buffers.
  assert.ok(heldMs >= idleTimeoutMs, `closed after ${heldMs} ms`);
  assert.ok(heldMs < idleTimeoutMs + 100 + 1500, `closed after ${heldMs} ms`);
  const { queries } = iotcpd.snapshot();
  assert.ok(queries.total < 100, `${queries.total} requests read`);
  // What was delivered can be read, then the reset: no end of stream.
  const buf = new Uint8Array(1 << 16);
  let received = 0;
  await assert.rejects(
    (async () => {
      for (let i = 0; i < 10_000; i++) {
        const n = await conn.read(buf);
        if (n === null) return;
        received += n;
      }
    })(),
    Deno.errors.ConnectionReset,
  );
  assert.ok(received < 100 * 200_001, `${received} bytes received`);
  // The slot is free: a new client is served.
  using next = await Deno.connect({ hostname: "127.0.0.1", port });
  await next.write(encoder.encode("y\n"));
  assert.ok((await next.read(buf))! > 0 && buf[0] === 0x30, "a reply begins");
});
