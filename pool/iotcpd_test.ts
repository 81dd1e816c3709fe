import assert from "node:assert/strict";
import { DaemonSpawnError } from "./daemon.ts";
import { Iotcpd } from "./iotcpd.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function exchange(
  port: number,
  text: string,
  hostname = "127.0.0.1",
): Promise<string> {
  const conn = await Deno.connect({ hostname, port });
  try {
    await conn.write(encoder.encode(text));
    const buf = new Uint8Array(4096);
    let out = "";
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return out;
      out += decoder.decode(buf.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

Deno.test("Iotcpd answers one line per connection, then closes", async () => {
  await using iotcpd = await Iotcpd.start({ port: 0, numDaemons: 2 });
  const { port } = iotcpd.addrs[0]!;
  assert.equal(await exchange(port, "hello\n"), "hello\n");
  // Without keep-alive a second line is not a request.
  assert.equal(await exchange(port, "one\r\ntwo\n"), "one\n");
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
    let out = "";
    const buf = new Uint8Array(64);
    for (let n; (n = await conn.read(buf)) !== null;) {
      out += decoder.decode(buf.subarray(0, n));
    }
    assert.equal(out, "a\nb\nc\n");
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
  while (iotcpd.snapshot().queries.inFlight === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const stopping = iotcpd.shutdown();
  assert.equal(await reply, "done x\n");
  await stopping;
  await iotcpd.finished;
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});
