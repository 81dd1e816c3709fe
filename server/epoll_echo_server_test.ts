import assert from "node:assert/strict";
import { closeWithReset, getSocketOption } from "../ffi/mod.ts";
import { EpollEchoServer } from "./epoll_echo_server.ts";
import { IDLE_MESSAGE } from "../net/listener_policy.ts";
import { readExactly, waitFor } from "../tests/_kit.ts";
import { readToEnd } from "../tests/_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function connect(server: EpollEchoServer): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  }
  return bytes;
}

/** Waits, bounded, for `condition` (the kit's waitFor). */
async function until(condition: () => boolean, what: string): Promise<void> {
  await waitFor(condition, { what, ms: 10000 });
}

Deno.test("EpollEchoServer echoes 1 MB of random bytes unchanged", async () => {
  await using server = new EpollEchoServer({ hostname: "127.0.0.1" });
  using client = await connect(server);
  const sent = randomBytes(1 << 20);
  const [, echoed] = await Promise.all([
    client.write(sent).then(async function writeRest(n): Promise<void> {
      let offset = n;
      while (offset < sent.length) {
        offset += await client.write(sent.subarray(offset));
      }
    }),
    readExactly(client, sent.length, 60000),
  ]);
  assert.deepEqual(echoed, sent);
  assert.equal(server.acceptedCount, 1);
  assert.equal(server.connectionCount, 1);
});

Deno.test("EpollEchoServer stops reading from a peer that does not read, and loses nothing", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    bufferSize: 4096,
  });
  using client = await connect(server);
  // More than every socket buffer on the way holds (loopback autotuning
  // tops out near 20 MB for the four of them): the writer blocks.
  const sent = randomBytes(32 << 20);
  let written = 0;
  const writing = (async () => {
    while (written < sent.length) {
      written += await client.write(sent.subarray(written));
    }
  })();
  await until(() => server.blockedCount === 1, "the server to stop reading");
  assert.ok(written < sent.length, "the writer is held back");
  const echoed = readExactly(client, sent.length, 60000);
  await writing;
  assert.deepEqual(await echoed, sent);
  await until(() => server.blockedCount === 0, "the server to read again");
});

Deno.test("EpollEchoServer resets a peer that has read nothing for the idle timeout", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    bufferSize: 4096,
    idleTimeoutMs: 300,
  });
  using client = await connect(server);
  // The peer writes and never reads: once the server stops reading from
  // it, the shared policy resets it instead of holding the slot for ever.
  const sent = randomBytes(32 << 20);
  const writing = (async () => {
    let written = 0;
    while (written < sent.length) {
      written += await client.write(sent.subarray(written));
    }
  })();
  await until(() => server.blockedCount === 1, "the server to stop reading");
  await assert.rejects(writing, Deno.errors.ConnectionReset);
  await until(() => server.connectionCount === 0, "the server to let go");
});

Deno.test("EpollEchoServer echoes everything to a half-closed peer, then closes", async () => {
  await using server = new EpollEchoServer({ hostname: "127.0.0.1" });
  using client = await connect(server);
  await client.write(encoder.encode("hello\0world\n"));
  await client.closeWrite();
  assert.equal(await readToEnd(client), "hello\0world\n");
  await until(() => server.connectionCount === 0, "the server to close");
});

Deno.test("EpollEchoServer sends the idle message, then closes with a FIN", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    idleTimeoutMs: 200,
  });
  using client = await connect(server);
  await client.write(encoder.encode("x"));
  assert.equal(decoder.decode(await readExactly(client, 1)), "x");
  assert.equal(await readToEnd(client), IDLE_MESSAGE);
});

Deno.test("EpollEchoServer.shutdown() closes idle clients with a FIN and stops listening", async () => {
  await using server = new EpollEchoServer({ hostname: "127.0.0.1" });
  const port = server.addr.port;
  using client = await connect(server);
  await client.write(encoder.encode("ping"));
  await readExactly(client, 4);
  const finished = server.shutdown();
  assert.equal(await readToEnd(client), "");
  await finished;
  assert.equal(server.connectionCount, 0);
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  await server.shutdown();
});

Deno.test("EpollEchoServer with resetOnClose resets the clients it closes", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    resetOnClose: true,
  });
  using client = await connect(server);
  await client.write(encoder.encode("ping"));
  await readExactly(client, 4);
  const finished = server.shutdown();
  await assert.rejects(
    () => client.read(new Uint8Array(16)),
    Deno.errors.ConnectionReset,
  );
  await finished;
});

Deno.test("EpollEchoServer pauses accepting at maxConns under the pause policy", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    maxConns: 1,
    maxConnsPolicy: "pause",
  });
  const first = await connect(server);
  await first.write(encoder.encode("1"));
  await readExactly(first, 1);
  // Connected by the kernel, waiting in the backlog.
  using second = await connect(server);
  await second.write(encoder.encode("2"));
  // A round trip on the first: the server has run since the second came.
  await first.write(encoder.encode("1"));
  await readExactly(first, 1);
  assert.equal(server.acceptedCount, 1);
  first.close();
  assert.equal(decoder.decode(await readExactly(second, 1)), "2");
  assert.equal(server.acceptedCount, 2);
  assert.equal(server.refusedCount, 0);
});

Deno.test("EpollEchoServer refuses beyond maxConns with the refusal message", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    maxConns: 1,
    refusalMessage: "full\n",
  });
  using first = await connect(server);
  await first.write(encoder.encode("1"));
  await readExactly(first, 1);
  using second = await connect(server);
  assert.equal(await readToEnd(second), "full\n");
  assert.equal(server.refusedCount, 1);
  assert.equal(server.acceptedCount, 1);
});

Deno.test("EpollEchoServer retires after maxTotalConns and finishes when they close", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    maxTotalConns: 2,
  });
  const port = server.addr.port;
  const clients = [await connect(server), await connect(server)];
  for (const client of clients) {
    await client.write(encoder.encode("x"));
    await readExactly(client, 1);
  }
  assert.equal(server.retiring, true);
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  for (const client of clients) client.close();
  await server.finished;
  assert.equal(server.acceptedCount, 2);
});

Deno.test("EpollEchoServer survives a peer that resets, and serves the next", async () => {
  await using server = new EpollEchoServer({ hostname: "127.0.0.1" });
  const rude = await connect(server);
  await rude.write(encoder.encode("bye"));
  await readExactly(rude, 3);
  await rude.write(encoder.encode("unread"));
  closeWithReset(rude);
  await until(() => server.connectionCount === 0, "the reset to be seen");
  using next = await connect(server);
  await next.write(encoder.encode("still here"));
  assert.equal(decoder.decode(await readExactly(next, 10)), "still here");
});

Deno.test("EpollEchoServer sets the listener's socket options", async () => {
  await using server = new EpollEchoServer({
    hostname: "127.0.0.1",
    noDelay: true,
    keepAliveIdleSecs: 30,
    reusePort: true,
  });
  assert.equal(getSocketOption(server.listenerFd, "TCP_NODELAY"), 1);
  assert.equal(getSocketOption(server.listenerFd, "SO_KEEPALIVE"), 1);
  assert.equal(getSocketOption(server.listenerFd, "TCP_KEEPIDLE"), 30);
  assert.equal(getSocketOption(server.listenerFd, "SO_REUSEPORT"), 1);
});

Deno.test("EpollEchoServer reports bad options and a taken port clearly", async () => {
  assert.throws(() => new EpollEchoServer({ bufferSize: 0 }), RangeError);
  assert.throws(
    () => new EpollEchoServer({ hostname: "no-such-host.invalid" }),
    /failed to lookup address/,
  );
  await using server = new EpollEchoServer({ hostname: "127.0.0.1" });
  assert.throws(
    () =>
      new EpollEchoServer({ hostname: "127.0.0.1", port: server.addr.port }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("EpollEchoServer resolves a host name as Deno.listen does", async () => {
  using deno = Deno.listen({ hostname: "localhost", port: 0 });
  await using server = new EpollEchoServer({ hostname: "localhost" });
  assert.equal(server.addr.hostname, deno.addr.hostname);
  using client = await Deno.connect({
    hostname: server.addr.hostname,
    port: server.addr.port,
  });
  await client.write(encoder.encode("named"));
  assert.equal(decoder.decode(await readExactly(client, 5)), "named");
});

Deno.test("EpollEchoServer listens on IPv6, and on :: for IPv4 clients too", async () => {
  for (const [listen, connectTo] of [["::1", "::1"], ["::", "127.0.0.1"]]) {
    await using server = new EpollEchoServer({ hostname: listen! });
    assert.equal(server.addr.hostname, listen);
    using client = await Deno.connect({
      hostname: connectTo!,
      port: server.addr.port,
    });
    await client.write(encoder.encode("six"));
    assert.equal(decoder.decode(await readExactly(client, 3)), "six");
  }
});
