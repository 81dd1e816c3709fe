import assert from "node:assert/strict";
import { waitFor, within } from "../tests/_helpers.ts";
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

Deno.test("TcpServer refuses bad limits with a RangeError, and leaves no listener behind", async () => {
  assert.throws(
    () =>
      new TcpServer(readAll, { hostname: "127.0.0.1", port: 0, maxConns: -1 }),
    RangeError,
  );
});
