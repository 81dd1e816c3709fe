import assert from "node:assert/strict";
import { ErrnoError, probeUnixPath } from "../ffi/mod.ts";
import { LIBC_ENV } from "./_env_libc.ts";
import type { TakeoverEvent } from "./handover_offer.ts";
import type { JsonValue } from "./protocol.ts";
import type { ConnectionHandler, TakeoverConn } from "./takeover_conn.ts";
import {
  TakeoverAbortedError,
  TakeoverRefusedError,
  TakeoverUnavailableError,
  TakeoverUntrustedError,
} from "./takeover_error.ts";
import { TakeoverServer } from "./takeover_server.ts";
import { readExactly } from "../tests/_kit.ts";
import { within } from "../tests/_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A temp dir for control sockets, removed on dispose. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "tcpkit_takeover_" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** Echoes whole 4-byte frames; tells `partial` when a partial frame waits. */
function frameEcho(
  partial?: (conn: TakeoverConn, bytes: number) => void,
): ConnectionHandler {
  return {
    onData(conn, data) {
      const whole = data.length - (data.length % 4);
      if (whole > 0) conn.write(data.subarray(0, whole));
      if (whole < data.length) partial?.(conn, data.length - whole);
      return whole;
    },
  };
}

function frame(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

Deno.test("TakeoverServer.listen() serves connections on its own fds", async () => {
  await using server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
  });
  assert.equal(server.addr.hostname, "127.0.0.1");
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await conn.write(frame(7));
    assert.deepEqual(await readExactly(conn, 4), frame(7));
    assert.equal(server.connectionCount, 1);
    assert.equal(server.acceptedCount, 1);
  } finally {
    conn.close();
  }
});

Deno.test("TakeoverServer hands a partial frame, connection state and app state to the next process", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const waiting = Promise.withResolvers<void>();
  const old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: {
      ...frameEcho(() => waiting.resolve()),
      onOpen(conn) {
        conn.state = { greeted: true, id: conn.id };
      },
    },
  });
  const events: TakeoverEvent[] = [];
  old.offer(path, {
    appState: () => ({ health: "BAD" }),
    timeoutMs: 10000,
  });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  let next: TakeoverServer | undefined;
  try {
    await conn.write(frame(1));
    assert.deepEqual(await readExactly(conn, 4), frame(1));
    // Half a frame: read by the old process, not answered.
    await conn.write(frame(0x01020304).subarray(0, 2));
    await within(10000, "the partial frame", waiting.promise);
    let restored: JsonValue = null;
    next = await TakeoverServer.takeOver(path, {
      handler: frameEcho(),
      onEvent: (event) => events.push(event),
      restore: (state) => restored = state,
    });
    assert.equal(await old.finished, "handed-over");
    assert.deepEqual(restored, { health: "BAD" });
    assert.equal(next.tookOver?.connections, 1);
    assert.equal(next.tookOver?.listeners, 1);
    assert.equal(next.addr.port, old.addr.port);
    const [moved] = next.connections;
    assert.deepEqual(moved?.state, { greeted: true, id: moved?.id });
    // The other half completes the frame in the new process.
    await conn.write(frame(0x01020304).subarray(2));
    assert.deepEqual(await readExactly(conn, 4), frame(0x01020304));
    await conn.write(frame(2));
    assert.deepEqual(await readExactly(conn, 4), frame(2));
    // The listener moved too.
    const fresh = await Deno.connect({
      hostname: "127.0.0.1",
      port: next.addr.port,
    });
    await fresh.write(frame(3));
    assert.deepEqual(await readExactly(fresh, 4), frame(3));
    fresh.close();
  } finally {
    conn.close();
    await old.close();
    await next?.close();
  }
});

Deno.test("TakeoverServer hands over reply bytes the kernel had not taken yet", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const size = 8 << 20;
  const reply = new Uint8Array(size).map((_, i) => i % 251);
  const old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    maxUnsentBytes: 64 << 20,
    handler: {
      onData(conn, data) {
        conn.write(reply);
        return data.length;
      },
    },
  });
  old.offer(path);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  let next: TakeoverServer | undefined;
  try {
    await conn.write(new Uint8Array([1]));
    // The client does not read yet: most of the reply stays unsent.
    for (
      let i = 0;
      i < 1000 && (old.connections[0]?.unsentBytes ?? 0) === 0;
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok((old.connections[0]?.unsentBytes ?? 0) > 0);
    next = await TakeoverServer.takeOver(path, { handler: frameEcho() });
    assert.equal(await old.finished, "handed-over");
    const got = await readExactly(conn, size, 10000);
    assert.deepEqual(got, reply);
  } finally {
    conn.close();
    await old.close();
    await next?.close();
  }
});

Deno.test("TakeoverServer refuses a peer of another uid, logs it, and keeps serving", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const events: TakeoverEvent[] = [];
  await using old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
    onEvent: (event) => events.push(event),
    // The seam: the kernel says our uid; pretend it said another.
    env: {
      ...LIBC_ENV,
      peerCredentials: (fd) => ({ ...LIBC_ENV.peerCredentials(fd), uid: 4242 }),
    },
  });
  old.offer(path);
  await assert.rejects(
    TakeoverServer.takeOver(path, { handler: frameEcho() }),
    (error: unknown) =>
      error instanceof TakeoverRefusedError && /uid 4242/.test(error.message),
  );
  const refusal = events.find((event) => event.type === "refused");
  assert.ok(refusal !== undefined && refusal.type === "refused");
  assert.equal(refusal.peer.uid, 4242);
  assert.equal(refusal.peer.pid, Deno.pid);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  try {
    await conn.write(frame(9));
    assert.deepEqual(await readExactly(conn, 4), frame(9));
  } finally {
    conn.close();
  }
});

Deno.test("TakeoverServer rolls back when the new process does not acknowledge in time", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const rolledBack = Promise.withResolvers<TakeoverEvent>();
  await using old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
    onEvent: (event) => {
      if (event.type === "rolled-back") rolledBack.resolve(event);
    },
  });
  old.offer(path, { timeoutMs: 1000 });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  try {
    await conn.write(frame(1));
    assert.deepEqual(await readExactly(conn, 4), frame(1));
    // Stall between receiving the sockets and the ack until the old process
    // has given up; the ack then finds nobody.
    await assert.rejects(
      TakeoverServer.takeOver(path, {
        handler: frameEcho(),
        timeoutMs: 20000,
        beforeAck: async () => {
          // The old process has described the connection: a write now is
          // held back, and must come out after the rollback, not be lost.
          old.connections[0]?.write(frame(77));
          await within(10000, "the rollback", rolledBack.promise);
        },
      }),
      TakeoverAbortedError,
    );
    const event = await rolledBack.promise;
    assert.ok(
      event.type === "rolled-back" && /acknowledge/.test(event.error.message),
    );
    // Nothing was lost: the held write comes out, and the same connection
    // goes on, in the old process.
    assert.deepEqual(await readExactly(conn, 4), frame(77));
    await conn.write(frame(2));
    assert.deepEqual(await readExactly(conn, 4), frame(2));
    assert.equal(old.connectionCount, 1);
    // And the offer is open again.
    const next = await TakeoverServer.takeOver(path, { handler: frameEcho() });
    assert.equal(await old.finished, "handed-over");
    await conn.write(frame(3));
    assert.deepEqual(await readExactly(conn, 4), frame(3));
    await next.close();
  } finally {
    conn.close();
  }
});

Deno.test("TakeoverServer finishes a reply in flight before it hands a connection over", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const started = Promise.withResolvers<() => void>();
  const handingOver = Promise.withResolvers<void>();
  const old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    onEvent: (event) => {
      if (event.type === "handing-over") handingOver.resolve();
    },
    handler: {
      onData(conn, data) {
        // An answer computed later: marked in flight until written.
        const done = conn.beginReply();
        const request = data.slice();
        started.resolve(() => {
          conn.write(encoder.encode(`slow ${decoder.decode(request)}\n`));
          done();
        });
        return data.length;
      },
    },
  });
  old.offer(path);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  let next: TakeoverServer | undefined;
  try {
    await conn.write(encoder.encode("q1"));
    const finish = await within(10000, "the request", started.promise);
    const taking = TakeoverServer.takeOver(path, {
      handler: {
        onData(c, data) {
          c.write(encoder.encode(`new ${decoder.decode(data)}\n`));
          return data.length;
        },
      },
    });
    await within(10000, "the handover to start", handingOver.promise);
    finish();
    next = await taking;
    assert.equal(await old.finished, "handed-over");
    assert.equal(decoder.decode(await readExactly(conn, 8)), "slow q1\n");
    await conn.write(encoder.encode("q2"));
    assert.equal(decoder.decode(await readExactly(conn, 7)), "new q2\n");
  } finally {
    conn.close();
    await old.close();
    await next?.close();
  }
});

Deno.test("TakeoverServer hands a GOOD/BAD line server over with a half-received line", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  // The shape tcpservd's command mode needs: a line protocol, one global
  // health state, per-connection counters, partial lines kept.
  function lineServer(state: { health: string }): ConnectionHandler {
    return {
      onOpen(conn, restored) {
        if (!restored) {
          conn.state = { commands: 0 };
          conn.write(encoder.encode("> "));
        }
      },
      onData(conn, data) {
        let consumed = 0;
        for (
          let nl = data.indexOf(10);
          nl >= 0;
          nl = data.indexOf(10, consumed)
        ) {
          const line = decoder.decode(data.subarray(consumed, nl)).trim();
          consumed = nl + 1;
          if (line === "setbad") state.health = "BAD";
          if (line === "setgood") state.health = "GOOD";
          const commands = ((conn.state as { commands: number }).commands) + 1;
          conn.state = { commands };
          conn.write(encoder.encode(`${state.health} ${commands}\n> `));
        }
        return consumed;
      },
    };
  }
  const oldState = { health: "GOOD" };
  const partial = Promise.withResolvers<void>();
  const oldHandler = lineServer(oldState);
  const old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: {
      ...oldHandler,
      onData(conn, data) {
        const consumed = oldHandler.onData(conn, data);
        if (consumed < data.length) partial.resolve();
        return consumed;
      },
    },
  });
  old.offer(path, { appState: () => ({ health: oldState.health }) });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  let next: TakeoverServer | undefined;
  try {
    assert.equal(decoder.decode(await readExactly(conn, 2)), "> ");
    await conn.write(encoder.encode("setbad\n"));
    assert.equal(decoder.decode(await readExactly(conn, 8)), "BAD 1\n> ");
    await conn.write(encoder.encode("getst"));
    await within(10000, "the half line", partial.promise);
    const newState = { health: "?" };
    next = await TakeoverServer.takeOver(path, {
      handler: lineServer(newState),
      restore: (state) =>
        newState.health = (state as { health: string }).health,
    });
    assert.equal(await old.finished, "handed-over");
    await conn.write(encoder.encode("atus\n"));
    assert.equal(decoder.decode(await readExactly(conn, 8)), "BAD 2\n> ");
  } finally {
    conn.close();
    await old.close();
    await next?.close();
  }
});

Deno.test("TakeoverServer.takeOver() refuses an offerer of another uid before its hello, and the offerer serves on", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const events: TakeoverEvent[] = [];
  await using old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
    onEvent: (event) => events.push(event),
  });
  old.offer(path);
  await assert.rejects(
    TakeoverServer.takeOver(path, {
      handler: frameEcho(),
      // The seam: the kernel says the offerer is us; pretend another uid.
      env: {
        ...LIBC_ENV,
        peerCredentials: (fd) => ({
          ...LIBC_ENV.peerCredentials(fd),
          uid: 4242,
        }),
        uid: () => 1000,
      },
    }),
    (error: unknown) =>
      error instanceof TakeoverUntrustedError &&
      error instanceof TakeoverRefusedError &&
      / runs as uid 4242: only uid 1000 or root may /.test(error.message),
  );
  // It never sent a hello: the offerer saw an asker leave, nothing more.
  assert.equal(old.handingOver, false);
  assert.ok(events.every((event) => event.type !== "handing-over"));
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  try {
    await conn.write(frame(4));
    assert.deepEqual(await readExactly(conn, 4), frame(4));
  } finally {
    conn.close();
  }
});

Deno.test("TakeoverServer.offer() refuses a path another server offers on, and a chained one replaces its old process's", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  let held: number | undefined;
  await using first = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
    // The seam: keep the control socket open after the handover, as an old
    // process slow to close it would.
    env: {
      ...LIBC_ENV,
      listenUnix: (...args) => held = LIBC_ENV.listenUnix(...args),
      close: (fd) => {
        if (fd !== held) LIBC_ENV.close(fd);
      },
    },
  });
  try {
    first.offer(path);
    await using second = TakeoverServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      handler: frameEcho(),
    });
    assert.throws(() => second.offer(path), Deno.errors.AddrInUse);
    assert.equal(second.offering, undefined);
    await using next = await TakeoverServer.takeOver(path, {
      handler: frameEcho(),
    });
    assert.equal(await first.finished, "handed-over");
    // The first still listens at the path; it is the process we took over
    // from, so ours replaces it.
    assert.equal(probeUnixPath(path).kind, "live");
    next.offer(path);
    assert.equal(next.offering, path);
    await using last = await TakeoverServer.takeOver(path, {
      handler: frameEcho(),
    });
    assert.equal(last.tookOver?.listeners, 1);
    assert.equal(await next.finished, "handed-over");
  } finally {
    if (held !== undefined) LIBC_ENV.close(held);
  }
});

Deno.test("TakeoverServer: a silent asker holds up no takeover, and is refused once it committed", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  await using old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
  });
  old.offer(path);
  let next: TakeoverServer | undefined;
  // Accepted first, and then silent: the takeover must not wait for it.
  const silent = await Deno.connect({ transport: "unix", path });
  try {
    next = await TakeoverServer.takeOver(path, { handler: frameEcho() });
    assert.equal(await old.finished, "handed-over");
    // What the silent asker is told: a refused frame, then EOF.
    const bytes: number[] = [];
    const buffer = new Uint8Array(1024);
    for (let i = 0; i < 100; i++) {
      const n = await within(5000, "the refusal", silent.read(buffer));
      if (n === null) break;
      bytes.push(...buffer.subarray(0, n));
    }
    const text = decoder.decode(new Uint8Array(bytes).subarray(8));
    assert.deepEqual(JSON.parse(text), {
      type: "refused",
      reason: `this process has handed over to pid ${Deno.pid}`,
    });
  } finally {
    silent.close();
    await next?.close();
  }
});

Deno.test("TakeoverServer.takeOver() from a path nobody offers fails with TakeoverUnavailableError", async () => {
  await using dir = await tempDir();
  await assert.rejects(
    TakeoverServer.takeOver(`${dir.path}/none.sock`, { handler: frameEcho() }),
    TakeoverUnavailableError,
  );
});

Deno.test("TakeoverServer.close() is idempotent, resolves finished and removes the control socket", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
  });
  server.offer(path);
  assert.equal(server.offering, path);
  assert.throws(() => server.offer(path), /Already offering/);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await conn.write(frame(1));
  await readExactly(conn, 4);
  await server.close();
  await server.close();
  assert.equal(await server.finished, "closed");
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  // The client reads a clean EOF (a FIN), not a reset.
  assert.equal(await within(10000, "EOF", conn.read(new Uint8Array(4))), null);
  conn.close();
  assert.throws(() => server.offer(path), /closed/);
});

Deno.test("TakeoverServer chains: each new process offers in turn and the state accumulates", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  let server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
  });
  let generation = 0;
  server.offer(path, { appState: () => generation + 1 });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    for (let round = 0; round < 3; round++) {
      await conn.write(frame(round));
      assert.deepEqual(await readExactly(conn, 4), frame(round));
      const previous = server;
      server = await TakeoverServer.takeOver(path, {
        handler: frameEcho(),
        restore: (state) => generation = state as number,
      });
      assert.equal(await previous.finished, "handed-over");
      server.offer(path, { appState: () => generation + 1 });
    }
    assert.equal(generation, 3);
    await conn.write(frame(99));
    assert.deepEqual(await readExactly(conn, 4), frame(99));
  } finally {
    conn.close();
    await server.close();
  }
});

// Decided at load time so the IPv6 test can be marked `ignore`.
const HAS_IPV6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "TakeoverServer hands over an IPv6 listener and connection",
  ignore: !HAS_IPV6,
  async fn() {
    await using dir = await tempDir();
    const path = `${dir.path}/ctl.sock`;
    const old = TakeoverServer.listen({
      hostname: "::1",
      port: 0,
      handler: frameEcho(),
    });
    old.offer(path);
    const conn = await Deno.connect({ hostname: "::1", port: old.addr.port });
    let next: TakeoverServer | undefined;
    try {
      await conn.write(frame(1));
      assert.deepEqual(await readExactly(conn, 4), frame(1));
      next = await TakeoverServer.takeOver(path, { handler: frameEcho() });
      assert.equal(next.addr.hostname, "::1");
      assert.equal(next.connections[0]?.remoteAddr.hostname, "::1");
      assert.equal(
        next.connections[0]?.remoteAddr.port,
        (conn.localAddr as Deno.NetAddr).port,
      );
      await conn.write(frame(2));
      assert.deepEqual(await readExactly(conn, 4), frame(2));
    } finally {
      conn.close();
      await old.close();
      await next?.close();
    }
  },
});

/**
 * A line server whose every reply is `size` bytes (the line, "\n", then
 * filler): it stops answering once the output is full, as handlers should.
 * `seen` tracks the most unsent bytes after any call, and `blocked`
 * resolves once a call ended with the output full.
 */
function bulkLines(size: number): {
  handler: ConnectionHandler;
  seen: { maxUnsent: number; answered: number; openedFull: boolean[] };
  blocked: Promise<void>;
} {
  const seen = { maxUnsent: 0, answered: 0, openedFull: [] as boolean[] };
  const blocked = Promise.withResolvers<void>();
  const handler: ConnectionHandler = {
    onOpen(conn, restored) {
      if (restored) seen.openedFull.push(conn.outputFull);
    },
    onData(conn, data) {
      let consumed = 0;
      while (!conn.outputFull) {
        const nl = data.indexOf(10, consumed);
        if (nl < 0) break;
        const reply = new Uint8Array(size).fill(0x2e);
        reply.set(data.subarray(consumed, nl + 1));
        conn.write(reply);
        seen.answered++;
        consumed = nl + 1;
      }
      seen.maxUnsent = Math.max(seen.maxUnsent, conn.unsentBytes);
      if (conn.outputFull) blocked.resolve();
      return consumed;
    },
  };
  return { handler, seen, blocked: blocked.promise };
}

/** Lines "0\n", "1\n", … as one write. */
function numberedLines(count: number): Uint8Array {
  return encoder.encode(
    Array.from({ length: count }, (_, i) => `${i}\n`).join(""),
  );
}

/** Reads `count` replies of `size` bytes and checks they answer lines 0, 1, … in order. */
async function assertRepliesInOrder(
  conn: Deno.Conn,
  count: number,
  size: number,
): Promise<void> {
  const bytes = await readExactly(conn, count * size);
  for (let i = 0; i < count; i++) {
    const head = encoder.encode(`${i}\n`);
    const reply = bytes.subarray(i * size, i * size + head.length);
    assert.deepEqual(reply, head, `reply ${i}`);
  }
}

// Replies far beyond what the kernel buffers on loopback (a few MB), so the
// server must hold most of them back.
const BULK_REPLY = 16 << 10;
const BULK_LINES = 2000;
const BULK_MAX_UNSENT = 256 << 10;

Deno.test("TakeoverServer: a client that pipelines lines and never reads gets replies up to maxUnsentBytes, then every one in order as it reads", async () => {
  const { handler, seen, blocked } = bulkLines(BULK_REPLY);
  await using server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    maxUnsentBytes: BULK_MAX_UNSENT,
    handler,
  });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await conn.write(numberedLines(BULK_LINES));
    await within(10000, "the output to fill up", blocked);
    assert.ok(seen.answered < BULK_LINES, "lines are left waiting");
    assert.ok(seen.maxUnsent <= BULK_MAX_UNSENT + BULK_REPLY);
    // Nothing more comes from the client: the waiting lines are answered
    // as it reads.
    await assertRepliesInOrder(conn, BULK_LINES, BULK_REPLY);
    assert.equal(seen.answered, BULK_LINES);
    assert.ok(seen.maxUnsent <= BULK_MAX_UNSENT + BULK_REPLY);
  } finally {
    conn.close();
  }
});

Deno.test("TakeoverServer hands a full output and the lines waiting behind it over; the next process answers them as the client reads", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const before = bulkLines(BULK_REPLY);
  const handedOver = Promise.withResolvers<TakeoverEvent>();
  const old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    maxUnsentBytes: BULK_MAX_UNSENT,
    handler: before.handler,
    onEvent: (event) => {
      if (event.type === "handed-over") handedOver.resolve(event);
    },
  });
  old.offer(path);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  let next: TakeoverServer | undefined;
  try {
    await conn.write(numberedLines(BULK_LINES));
    await within(10000, "the output to fill up", before.blocked);
    const after = bulkLines(BULK_REPLY);
    next = await TakeoverServer.takeOver(path, {
      handler: after.handler,
      maxUnsentBytes: BULK_MAX_UNSENT,
    });
    const event = await within(10000, "the handover", handedOver.promise);
    assert.ok(event.type === "handed-over" && event.unreadBytes > 0);
    // A connection restored with more than the limit unsent is full from
    // the start: no answer before the client reads. How much is still
    // unsent depends on how much the kernel took at the snapshot (loopback
    // buffers grow), so the expectation follows what was handed over.
    assert.equal(after.seen.openedFull.length, 1);
    if (event.unsentBytes > BULK_MAX_UNSENT) {
      assert.deepEqual(after.seen.openedFull, [true]);
    } else if (event.unsentBytes < BULK_MAX_UNSENT / 2) {
      assert.deepEqual(after.seen.openedFull, [false]);
    }
    await assertRepliesInOrder(conn, BULK_LINES, BULK_REPLY);
    assert.equal(before.seen.answered + after.seen.answered, BULK_LINES);
    assert.ok(after.seen.maxUnsent <= BULK_MAX_UNSENT + BULK_REPLY);
  } finally {
    conn.close();
    await old.close();
    await next?.close();
  }
});

/**
 * Like tcpservd's startloop: "slow" is answered later (`started` gives the
 * function that answers it), and the lines after it wait until then.
 */
function slowLines(started: { resolve(finish: () => void): void }) {
  return {
    onData(conn: TakeoverConn, data: Uint8Array): number {
      if (conn.state === "slow") return 0;
      const nl = data.indexOf(10);
      if (nl < 0) return 0;
      const line = decoder.decode(data.subarray(0, nl));
      if (line === "slow") {
        conn.state = "slow";
        const done = conn.beginReply();
        started.resolve(() => {
          conn.write(encoder.encode("slow done\n"));
          conn.state = null;
          done();
        });
      } else {
        conn.write(encoder.encode(`${line} done\n`));
      }
      return nl + 1;
    },
  } satisfies ConnectionHandler;
}

Deno.test("TakeoverServer passes input that waited for a reply in flight again once it ends, with nothing new from the client", async () => {
  const started = Promise.withResolvers<() => void>();
  await using server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: slowLines(started),
  });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await conn.write(encoder.encode("slow\nfast\n"));
    const finish = await within(10000, "the slow request", started.promise);
    finish();
    assert.equal(
      decoder.decode(await readExactly(conn, 20)),
      "slow done\nfast done\n",
    );
  } finally {
    conn.close();
  }
});

Deno.test("TakeoverServer answers input that waited for a reply ended during a handover once the handover rolls back", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  const started = Promise.withResolvers<() => void>();
  const handingOver = Promise.withResolvers<void>();
  const rolledBack = Promise.withResolvers<void>();
  await using old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: slowLines(started),
    onEvent: (event) => {
      if (event.type === "handing-over") handingOver.resolve();
      if (event.type === "rolled-back") rolledBack.resolve();
    },
  });
  old.offer(path, { timeoutMs: 300 });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: old.addr.port,
  });
  try {
    await conn.write(encoder.encode("slow\nfast\n"));
    const finish = await within(10000, "the slow request", started.promise);
    // The taker stalls before its ack until the old process gave up.
    const taking = TakeoverServer.takeOver(path, {
      handler: slowLines(Promise.withResolvers<() => void>()),
      timeoutMs: 20000,
      beforeAck: () => within(10000, "the rollback", rolledBack.promise),
    });
    taking.catch(() => {});
    await within(10000, "the handover to start", handingOver.promise);
    // The reply ends while the server is paused: "fast" is handed over as
    // unread, then comes back with the rollback.
    finish();
    await assert.rejects(taking, TakeoverAbortedError);
    assert.equal(
      decoder.decode(await readExactly(conn, 20)),
      "slow done\nfast done\n",
    );
  } finally {
    conn.close();
  }
});

Deno.test("TakeoverServer out of fds: the offer accepts its asker in the slot of a spare fd, and the handover goes through", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ctl.sock`;
  // The seam: accept() on the offer socket fails with EMFILE until the
  // spare copy of the socket has been closed, as in a full fd table.
  let spare: number | undefined;
  let spareClosed = false;
  let failedAccepts = 0;
  const old = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
    env: {
      ...LIBC_ENV,
      duplicateFd: (fd) => {
        const copy = LIBC_ENV.duplicateFd(fd);
        spare ??= copy;
        return copy;
      },
      acceptUnix: (fd) => {
        if (!spareClosed) {
          failedAccepts++;
          throw new ErrnoError(24, "accept4");
        }
        return LIBC_ENV.acceptUnix(fd);
      },
      close: (fd) => {
        if (fd === spare) spareClosed = true;
        LIBC_ENV.close(fd);
      },
    },
  });
  old.offer(path);
  let next: TakeoverServer | undefined;
  try {
    next = await TakeoverServer.takeOver(path, {
      handler: frameEcho(),
      timeoutMs: 3000,
    });
    assert.equal(await old.finished, "handed-over");
    assert.ok(spareClosed);
    assert.equal(failedAccepts, 1);
  } finally {
    await old.close();
    await next?.close();
  }
});

Deno.test("TakeoverServer maxConnections: at the limit new connections wait in the listen queue until one closes", async () => {
  await using server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: frameEcho(),
    maxConnections: 2,
  });
  const connect = () =>
    Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 3; i++) conns.push(await connect());
    await conns[2]!.write(frame(3));
    // Round trips on the first two after the third connected: the server
    // saw the third's connection by then, and left it in the queue.
    for (const [i, conn] of conns.slice(0, 2).entries()) {
      await conn.write(frame(i));
      assert.deepEqual(await readExactly(conn, 4), frame(i));
    }
    assert.equal(server.acceptedCount, 2);
    assert.equal(server.connectionCount, 2);
    conns.shift()!.close();
    // One closed: the third is accepted and answered.
    assert.deepEqual(await readExactly(conns[1]!, 4), frame(3));
    assert.equal(server.acceptedCount, 3);
  } finally {
    for (const conn of conns) conn.close();
  }
  assert.throws(
    () =>
      TakeoverServer.listen({
        hostname: "127.0.0.1",
        handler: frameEcho(),
        maxConnections: 0,
      }),
    RangeError,
  );
});
