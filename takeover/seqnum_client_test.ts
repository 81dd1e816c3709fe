import assert from "node:assert/strict";
import { SeqnumClient } from "./seqnum_client.ts";
import { SeqnumService } from "./seqnum_server.ts";
import { TakeoverServer } from "./takeover_server.ts";

/** A Deno echo server that lets `tamper` rewrite (or drop) what it echoes. */
function fakeServer(
  tamper: (bytes: Uint8Array, conn: Deno.Conn) => Uint8Array | null,
): { port: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          while (true) {
            const n = await conn.read(buffer);
            if (n === null) break;
            const out = tamper(buffer.slice(0, n), conn);
            if (out === null) break;
            await conn.write(out);
          }
        } catch {
          // The client went away.
        } finally {
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // Closed already.
          }
        }
      })();
    }
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await serving;
    },
  };
}

Deno.test("SeqnumClient checks every echo of a TakeoverServer and reports the counts", async () => {
  const service = new SeqnumService();
  await using server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: service.handler,
  });
  const client = await SeqnumClient.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
    conns: 3,
    count: 20,
    intervalMs: 0,
  });
  const report = await client.run();
  assert.equal(report.failure, undefined);
  assert.equal(report.sent, 60);
  assert.equal(report.received, 60);
  assert.equal(report.conns, 3);
  assert.ok(report.maxRttMs >= report.p99RttMs);
  assert.ok(report.p99RttMs >= report.p50RttMs);
  assert.equal(service.echoedHere, 60);
});

Deno.test("SeqnumClient reports a gap as a seqnum discontinuity", async () => {
  let echoed = 0;
  await using server = fakeServer((bytes) => {
    // Skip one: the third echo carries the wrong seqnum.
    if (++echoed === 3) new DataView(bytes.buffer).setUint32(0, 7);
    return bytes;
  });
  const client = await SeqnumClient.connect({
    hostname: "127.0.0.1",
    port: server.port,
    count: 10,
    intervalMs: 0,
  });
  const report = await client.run();
  assert.equal(report.failure, "Seqnum discontinuity !!! (7 != 2)");
  assert.equal(report.received, 2);
});

Deno.test("SeqnumClient reports an EOF as a seqnum discontinuity", async () => {
  let echoed = 0;
  await using server = fakeServer((bytes) => ++echoed === 2 ? null : bytes);
  const client = await SeqnumClient.connect({
    hostname: "127.0.0.1",
    port: server.port,
    count: 10,
    intervalMs: 0,
  });
  const report = await client.run();
  assert.equal(report.failure, "Seqnum discontinuity !!! (EOF != 1)");
});

Deno.test("SeqnumClient opens fresh connections on a timer and stops on stop()", async () => {
  const service = new SeqnumService();
  await using server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: service.handler,
  });
  const client = await SeqnumClient.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
    intervalMs: 5,
    newConnIntervalMs: 5,
  });
  const running = client.run();
  // Bounded wait for a few fresh connections, then stop.
  for (let i = 0; i < 2000 && client.stats.newConns < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  client.stop();
  const report = await running;
  assert.equal(report.failure, undefined);
  assert.ok(report.newConns >= 5);
  assert.equal(report.newConnsFailed, 0);
  assert.equal(report.sent, report.received);
});

Deno.test("SeqnumClient fails the run when a fresh connection is refused", async () => {
  const service = new SeqnumService();
  const server = TakeoverServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: service.handler,
  });
  const client = await SeqnumClient.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
    intervalMs: 5,
    newConnIntervalMs: 5,
  });
  const running = client.run();
  // The server goes away: the next fresh connection is refused, and the
  // long-lived one reads EOF (or a reset, if a seqnum was in flight).
  await server.close();
  const report = await running;
  assert.match(
    report.failure ?? "",
    /^(New connection \d+ failed: refused|Seqnum discontinuity !!! \((EOF|reset) != \d+\))$/,
  );
});

Deno.test("SeqnumClient.connect() validates its options", async () => {
  await assert.rejects(
    SeqnumClient.connect({ hostname: "127.0.0.1", port: 1, conns: 0 }),
    RangeError,
  );
  await assert.rejects(
    SeqnumClient.connect({ hostname: "127.0.0.1", port: 1, intervalMs: -1 }),
    RangeError,
  );
});
