import assert from "node:assert/strict";
import { ServerConn } from "../net/mod.ts";
import {
  DrainGraceOverError,
  DrainGraceReader,
} from "./_drain_grace_reader.ts";
import { tcpPair } from "../tests/_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connected pair over 127.0.0.1: the accepted side wrapped as the server sees it. */
async function pair(): Promise<{
  server: ServerConn;
  client: Deno.TcpConn;
  [Symbol.dispose](): void;
}> {
  const { server: accepted, client } = await tcpPair();
  const server = new ServerConn(accepted, 1);
  return {
    server,
    client,
    [Symbol.dispose]() {
      server.close();
      client.close();
    },
  };
}

Deno.test("DrainGraceReader keeps reading after a drain, until the grace ends", async () => {
  using conns = await pair();
  using reader = new DrainGraceReader(conns.server, 10000);
  const buf = new Uint8Array(64);
  const pending = reader.read(buf);
  // ServerConn.read would be cut here: the drain closes a reading conn.
  conns.server.drain();
  assert.equal(conns.server.closed, false);
  await conns.client.write(encoder.encode("late\n"));
  const n = await pending;
  assert.equal(decoder.decode(buf.subarray(0, n!)), "late\n");
  assert.equal(reader.graceOver, false);
});

Deno.test("DrainGraceReader rejects a pending read and later ones once the grace is over", async () => {
  using conns = await pair();
  using reader = new DrainGraceReader(conns.server, 50);
  const buf = new Uint8Array(64);
  const pending = reader.read(buf);
  const started = performance.now();
  conns.server.drain();
  await assert.rejects(pending, DrainGraceOverError);
  assert.ok(performance.now() - started >= 45, "not before the grace");
  assert.equal(reader.graceOver, true);
  await assert.rejects(reader.read(buf), DrainGraceOverError);
  // The socket is left to the caller, to answer before closing.
  assert.equal(conns.server.closed, false);
});

Deno.test("DrainGraceReader without a drain reads until end of stream", async () => {
  using conns = await pair();
  using reader = new DrainGraceReader(conns.server, 0);
  await conns.client.write(encoder.encode("x"));
  await conns.client.closeWrite();
  const buf = new Uint8Array(8);
  assert.equal(await reader.read(buf), 1);
  assert.equal(await reader.read(buf), null);
  assert.equal(conns.server.eof, true);
});

Deno.test("DrainGraceReader rejects a negative grace", async () => {
  using conns = await pair();
  assert.throws(() => new DrainGraceReader(conns.server, -1), RangeError);
});
