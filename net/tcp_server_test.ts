import assert from "node:assert/strict";
import { getSockName, listenTcp } from "../ffi/mod.ts";
import { readExactly, waitFor, within } from "../tests/_helpers.ts";
import { TcpServer } from "./tcp_server.ts";

/** Reads until the peer (or a drain) ends the connection. */
async function readAll(conn: { read(p: Uint8Array): Promise<number | null> }) {
  const buffer = new Uint8Array(64);
  while ((await conn.read(buffer)) !== null) {
    // Discard: the test is about the connection's life, not its bytes.
  }
}

Deno.test("TcpServer: a server retired by maxTotalConns still drains at once when shut down", async () => {
  const server = new TcpServer(readAll, {
    hostname: "127.0.0.1",
    port: 0,
    maxTotalConns: 1,
    drainTimeoutMs: 10000,
  });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await waitFor(() => server.retiring, { what: "the server to retire" });
    // The idle client would keep a retired server for ever: a shutdown
    // must cut its pending read, as it does for a server that never retired.
    await within(3000, "the shutdown of a retired server", server.shutdown());
    assert.equal(server.connectionCount, 0);
  } finally {
    client.close();
  }
});

Deno.test("TcpServer stops listening to its accept gate once finished", async () => {
  const listeners = new Set<() => void>();
  const gate = {
    stallAccept: false,
    onChange(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const server = new TcpServer(readAll, {
    hostname: "127.0.0.1",
    port: 0,
    acceptGate: gate,
  });
  assert.equal(listeners.size, 1);
  await server.shutdown();
  assert.equal(listeners.size, 0);
});

Deno.test("TcpServer refuses bad limits with a RangeError, and leaves no listener behind", () => {
  assert.throws(
    () =>
      new TcpServer(readAll, { hostname: "127.0.0.1", port: 0, maxConns: -1 }),
    RangeError,
  );
});

Deno.test("TcpServer serves a listening socket it is given by fd (socket activation), and closes it at the end", async () => {
  const raw = listenTcp({ hostname: "127.0.0.1", port: 0, backlog: 16 });
  const server = new TcpServer(async (conn) => {
    const buffer = new Uint8Array(64);
    let n: number | null;
    while ((n = await conn.read(buffer)) !== null) {
      await conn.writeAll(buffer.slice(0, n));
    }
  }, { listenFd: raw.fd, idleTimeoutMs: 10000 });
  try {
    assert.equal(server.addr.port, raw.address.port);
    assert.equal(server.listenerFd, raw.fd);
    for (let round = 0; round < 3; round++) {
      const client = await Deno.connect({
        hostname: "127.0.0.1",
        port: raw.address.port,
      });
      try {
        await client.write(new TextEncoder().encode(`hello ${round}\n`));
        const reply = await readExactly(client, 8);
        assert.equal(new TextDecoder().decode(reply), `hello ${round}\n`);
      } finally {
        client.close();
      }
    }
    await waitFor(() => server.acceptedCount === 3, { what: "three served" });
    // An idle client is cut by the drain, as on Deno's listener.
    const idle = await Deno.connect({
      hostname: "127.0.0.1",
      port: raw.address.port,
    });
    try {
      // Accepted (the fourth), not still in the listen queue, which the
      // listener's close would reset.
      await waitFor(
        () => server.acceptedCount === 4 && server.connectionCount === 1,
        { what: "the idle one served" },
      );
      await within(3000, "the shutdown", server.shutdown());
      assert.equal(await idle.read(new Uint8Array(8)), null);
    } finally {
      idle.close();
    }
  } finally {
    await server.shutdown();
  }
  // The fd went with the server (its number may be reused since).
  const after = getSockName(raw.fd);
  assert.ok(after === null || after.port !== raw.address.port);
});

Deno.test("TcpServer refuses an fd that is not a bound socket", () => {
  assert.throws(
    () => new TcpServer(readAll, { listenFd: 987654 }),
    (error: unknown) => error instanceof Error,
  );
});
