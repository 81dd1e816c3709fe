import assert from "node:assert/strict";
import { closeWithReset, listenTcp, Reactor } from "../ffi/mod.ts";
import { readExactly, readToEnd, within } from "../tests/_helpers.ts";
import { type FdConn, FdListener } from "./fd_conn.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw listener, a Deno client, and the server side as an FdConn. */
async function pair(reactor: Reactor): Promise<
  { listener: FdListener; client: Deno.TcpConn; server: FdConn } & Disposable
> {
  const raw = listenTcp({ hostname: "127.0.0.1", port: 0, backlog: 8 });
  const listener = new FdListener(raw.fd, reactor);
  const accepted = listener.accept();
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await within(5000, "the accept", accepted);
  return {
    listener,
    client,
    server,
    [Symbol.dispose]() {
      server.close();
      listener.close();
      try {
        client.close();
      } catch {
        // Closed by the test.
      }
    },
  };
}

Deno.test("FdConn reads and writes like a Deno conn, and knows both addresses", async () => {
  await using reactor = Reactor.create();
  using p = await pair(reactor);
  assert.equal(p.server.remoteAddr.port, p.client.localAddr.port);
  assert.equal(p.server.localAddr.port, p.listener.addr.port);
  await p.client.write(encoder.encode("ping"));
  const buffer = new Uint8Array(16);
  const n = await within(5000, "a read", p.server.read(buffer));
  assert.equal(decoder.decode(buffer.subarray(0, n!)), "ping");
  assert.equal(await p.server.write(encoder.encode("pong")), 4);
  assert.equal(decoder.decode(await readExactly(p.client, 4)), "pong");
});

Deno.test("FdConn gives null at end of stream and sends a FIN on closeWrite", async () => {
  await using reactor = Reactor.create();
  using p = await pair(reactor);
  await p.server.closeWrite();
  assert.equal(await readToEnd(p.client), "");
  await p.client.closeWrite();
  assert.equal(
    await within(5000, "EOF", p.server.read(new Uint8Array(8))),
    null,
  );
});

Deno.test("FdConn reports a peer's reset, and resets on closeWithReset", async () => {
  await using reactor = Reactor.create();
  using p = await pair(reactor);
  const reading = p.server.read(new Uint8Array(8));
  closeWithReset(p.client);
  await assert.rejects(
    within(5000, "the reset", reading),
    Deno.errors.ConnectionReset,
  );
  using q = await pair(reactor);
  q.server.closeWithReset();
  await assert.rejects(
    within(5000, "the reset", q.client.read(new Uint8Array(8))),
    Deno.errors.ConnectionReset,
  );
});

Deno.test("FdConn.close() fails a pending read; FdListener.close() a pending accept", async () => {
  await using reactor = Reactor.create();
  using p = await pair(reactor);
  const reading = p.server.read(new Uint8Array(8));
  p.server.close();
  await assert.rejects(
    within(5000, "the read", reading),
    Deno.errors.BadResource,
  );
  const accepting = p.listener.accept();
  p.listener.close();
  await assert.rejects(
    within(5000, "the accept", accepting),
    Deno.errors.BadResource,
  );
});

Deno.test("FdConn writes 8 MB to a slow reader without losing a byte", async () => {
  await using reactor = Reactor.create();
  using p = await pair(reactor);
  const sent = new Uint8Array(8 << 20);
  for (let i = 0; i < sent.length; i += 4096) sent[i] = (i >> 12) & 0xff;
  const writing = (async () => {
    let offset = 0;
    while (offset < sent.length) {
      offset += await p.server.write(sent.subarray(offset));
    }
  })();
  const got = await readExactly(p.client, sent.length, 30000);
  await within(30000, "the writes", writing);
  assert.deepEqual(got, sent);
});

Deno.test("FdConn.closeWrite() on a closed or reset connection rejects, and never throws", async () => {
  await using reactor = Reactor.create();
  using p = await pair(reactor);
  p.server.close();
  // A caller's .catch() must see the failure: a synchronous throw skips it.
  let caught: unknown;
  await p.server.closeWrite().catch((error) => caught = error);
  assert.ok(caught instanceof Deno.errors.BadResource);
});
