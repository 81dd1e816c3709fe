import assert from "node:assert/strict";
import { CONTENT_TYPE } from "./exposition.ts";
import { MetricsServer } from "./metrics_server.ts";

function start(
  options: Partial<Parameters<typeof MetricsServer.listen>[0]> = {},
): MetricsServer {
  return MetricsServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    render: () => "# HELP up Up.\n# TYPE up gauge\nup 1\n",
    ...options,
  });
}

/** Sends raw bytes, returns everything the server sent until it closed. */
async function raw(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    for (let i = 0; i < 1000; i++) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    return new TextDecoder().decode(
      new Uint8Array(chunks.flatMap((c) => [...c])),
    );
  } finally {
    conn.close();
  }
}

Deno.test("MetricsServer answers GET /metrics with the text format's content type", async () => {
  const server = start();
  try {
    const url = `http://127.0.0.1:${server.addr.port}/metrics`;
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), CONTENT_TYPE);
    assert.equal(
      await response.text(),
      "# HELP up Up.\n# TYPE up gauge\nup 1\n",
    );
    const withQuery = await fetch(`${url}?x=1`);
    assert.equal(withQuery.status, 200);
    await withQuery.body?.cancel();
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "35");
    assert.equal(await head.text(), "");
    assert.equal(server.scrapes, 3);
  } finally {
    await server.close();
  }
});

Deno.test("MetricsServer: 404 for other paths, 405 with Allow for other methods", async () => {
  const server = start();
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const other = await fetch(`${base}/`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
    assert.match(
      await raw(server.addr.port, "nonsense\r\n\r\n"),
      /^HTTP\/1\.1 400 /,
    );
  } finally {
    await server.close();
  }
});

Deno.test("MetricsServer answers 500 when rendering throws, and keeps serving", async () => {
  let fail = true;
  const errors: unknown[] = [];
  const server = start({
    render: () => {
      if (fail) throw new Error("boom");
      return "";
    },
    onError: (e) => errors.push(e),
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/metrics`;
    const bad = await fetch(url);
    assert.equal(bad.status, 500);
    await bad.body?.cancel();
    assert.equal(errors.length, 1);
    fail = false;
    const good = await fetch(url);
    assert.equal(good.status, 200);
    await good.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("MetricsServer caps the request head", async () => {
  const server = start({ maxHeadBytes: 256 });
  try {
    const reply = await raw(
      server.addr.port,
      `GET /metrics HTTP/1.1\r\nX: ${"a".repeat(400)}\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 431 /);
  } finally {
    await server.close();
  }
});

Deno.test("MetricsServer: silent clients cannot keep a scrape out; each is dropped after the head deadline", async () => {
  const server = start({ maxConnections: 2, headTimeoutMs: 30000 });
  const silent: Deno.TcpConn[] = [];
  try {
    const port = server.addr.port;
    for (let i = 0; i < 4; i++) {
      silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    // Every slot is held by a silent client, yet a scrape gets through at
    // once: it takes the slot of the oldest silent one.
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.ok(performance.now() - started < 2000);
    assert.ok(server.turnedAway >= 1);
  } finally {
    for (const conn of silent) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await server.close();
  }
});

Deno.test("MetricsServer closes a client that has not sent its head within headTimeoutMs", async () => {
  const server = start({ headTimeoutMs: 200, timeoutMs: 30000 });
  try {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    try {
      // Half a request line, then nothing: a slowloris.
      await conn.write(new TextEncoder().encode("GET /met"));
      const started = performance.now();
      assert.equal(await conn.read(new Uint8Array(16)).catch(() => null), null);
      const waited = performance.now() - started;
      assert.ok(waited < 5000, `closed after ${waited} ms`);
    } finally {
      conn.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("MetricsServer accepts a request whose lines end in a bare LF", async () => {
  const server = start();
  try {
    const reply = await raw(server.addr.port, "GET /metrics HTTP/1.0\n\n");
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(reply.endsWith("up 1\n"));
  } finally {
    await server.close();
  }
});

Deno.test("MetricsServer.listen() throws AddrInUse for a taken port", () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.throws(
    () => start({ port: (taken.addr as Deno.NetAddr).port }),
    Deno.errors.AddrInUse,
  );
});
