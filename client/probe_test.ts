import assert from "node:assert/strict";
import { LineReader, writeAll } from "../common/mod.ts";
import { closeWithReset } from "../ffi/mod.ts";
import { fakeTcpservd, startTestServer } from "../tests/_kit.ts";
import {
  probe,
  probeExitCode,
  type ProbeResult,
  type ProbeStatus,
} from "./probe.ts";
import { nagiosCode } from "./probe_format.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

function result(status: ProbeStatus): ProbeResult {
  return {
    status,
    hostname: "127.0.0.1",
    port: 1971,
    seconds: 0.001,
    detail: "",
  };
}

Deno.test("probeExitCode() maps GOOD to 0, BAD to 1 and failures to 2", () => {
  assert.equal(probeExitCode(result("GOOD")), 0);
  assert.equal(probeExitCode(result("BAD")), 1);
  assert.equal(probeExitCode(result("UNREACHABLE")), 2);
  assert.equal(probeExitCode(result("RESET")), 2);
  assert.equal(probeExitCode(result("TIMEOUT")), 2);
  assert.equal(probeExitCode(result("PROTOCOL_ERROR")), 2);
});

Deno.test("probeExitCode() replaces the code of every failure with failureCode", () => {
  assert.equal(probeExitCode(result("GOOD"), 7), 0);
  assert.equal(probeExitCode(result("BAD"), 7), 7);
  assert.equal(probeExitCode(result("UNREACHABLE"), 7), 7);
  assert.equal(probeExitCode(result("RESET"), 7), 7);
  assert.equal(probeExitCode(result("TIMEOUT"), 7), 7);
  assert.equal(probeExitCode(result("PROTOCOL_ERROR"), 7), 7);
});

Deno.test("probeExitCode() honours a failureCode of 0", () => {
  assert.equal(probeExitCode(result("BAD"), 0), 0);
  assert.equal(probeExitCode(result("TIMEOUT"), 0), 0);
});

Deno.test("probe() reports GOOD from a server that says GOOD", async () => {
  const received: string[] = [];
  await using server = startTestServer(fakeTcpservd("GOOD", received));
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "GOOD");
  assert.equal(got.detail, "");
  assert.equal(got.hostname, "127.0.0.1");
  assert.equal(got.port, server.port);
  assert.ok(got.seconds >= 0 && got.seconds < 3, `seconds ${got.seconds}`);
  assert.deepEqual(received, ["getstatus", "quit"]);
});

Deno.test("probe() reports BAD from a server that says BAD", async () => {
  const received: string[] = [];
  await using server = startTestServer(fakeTcpservd("BAD", received));
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "BAD");
  assert.equal(got.detail, "");
  assert.deepEqual(received, ["getstatus", "quit"]);
});

Deno.test("probe() accepts a reply ending in CRLF", async () => {
  await using server = startTestServer(fakeTcpservd("GOOD\r"));
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "GOOD");
});

Deno.test("probe() keeps GOOD when the server closes instead of answering quit", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    const line = await new LineReader(conn).readLine();
    if (line && decoder.decode(line.bytes) === "getstatus") {
      await writeAll(conn, encoder.encode("GOOD\n> "));
    }
    closeQuietly(conn);
  });
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "GOOD");
});

Deno.test("probe() reports UNREACHABLE when the connection is refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const got = await probe("127.0.0.1", port, { timeoutMs: 5000 });
  assert.equal(got.status, "UNREACHABLE");
  assert.equal(got.port, port);
  assert.match(
    got.detail,
    new RegExp(`^Cannot connect to 127\\.0\\.0\\.1:${port}: `),
  );
  assert.equal(probeExitCode(got), 2);
});

Deno.test("probe() reports TIMEOUT when the server never writes", async () => {
  // Accept and stay silent: the client waits for a prompt that never comes.
  await using server = startTestServer(() => Promise.resolve());
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 300 });
  assert.equal(got.status, "TIMEOUT");
  assert.equal(got.detail, `127.0.0.1:${server.port}: Timed out after 0.3 s`);
  // Sanity bounds only: the deadline was waited for, and the result came back.
  assert.ok(got.seconds >= 0.25, `seconds ${got.seconds}`);
  assert.ok(got.seconds < 3, `seconds ${got.seconds}`);
});

Deno.test("probe() reports TIMEOUT when the server greets but never answers getstatus", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    // Read the request, then say nothing until the client goes away.
    const reader = new LineReader(conn);
    for (let i = 0; i < 100; i++) {
      if (await reader.readLine() === null) return;
    }
  });
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 300 });
  assert.equal(got.status, "TIMEOUT");
  assert.ok(got.seconds < 3, `seconds ${got.seconds}`);
});

Deno.test("probe() reports PROTOCOL_ERROR with the text of an error greeting", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("ERR too many connections\n"));
    closeQuietly(conn);
  });
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "PROTOCOL_ERROR");
  assert.match(got.detail, /ERR too many connections/);
  assert.ok(got.detail.startsWith(`127.0.0.1:${server.port}: `), got.detail);
});

Deno.test("probe() reports PROTOCOL_ERROR for a reply that is neither GOOD nor BAD", async () => {
  await using server = startTestServer(fakeTcpservd("MAYBE"));
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "PROTOCOL_ERROR");
  assert.match(got.detail, /MAYBE/);
});

Deno.test("probe() reports PROTOCOL_ERROR when the server closes before replying", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    await new LineReader(conn).readLine();
    closeQuietly(conn);
  });
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "PROTOCOL_ERROR");
  assert.match(
    got.detail,
    /Connection closed while waiting for the reply to getstatus; got nothing/,
  );
});

Deno.test("probe() traces each step", async () => {
  await using server = startTestServer(fakeTcpservd("GOOD"));
  const steps: string[] = [];
  await probe("127.0.0.1", server.port, {
    timeoutMs: 5000,
    trace: (m) => steps.push(m),
  });
  assert.deepEqual(steps, [
    `connecting to 127.0.0.1:${server.port}`,
    "sending getstatus",
    'received "GOOD\\n"',
    "sending quit",
  ]);
});

/** tcpservd 1.0 on Linux: `>`, then `getstatus` answered with `status\n` padded to 1024 bytes, then its close. */
function original(
  status: "GOOD" | "BAD",
  received: string[],
): (conn: Deno.TcpConn) => Promise<void> {
  return async (conn) => {
    await writeAll(conn, encoder.encode(">"));
    const buf = new Uint8Array(8192);
    const n = await conn.read(buf);
    received.push(decoder.decode(buf.subarray(0, n ?? 0)));
    const reply = new Uint8Array(1024);
    encoder.encodeInto(`${status}\n`, reply);
    await writeAll(conn, reply);
    closeQuietly(conn);
  };
}

Deno.test("probe() reads GOOD and BAD from tcpservd 1.0 and sends it no quit", async () => {
  for (const status of ["GOOD", "BAD"] as const) {
    const received: string[] = [];
    await using server = startTestServer(original(status, received));
    const steps: string[] = [];
    const got = await probe("127.0.0.1", server.port, {
      timeoutMs: 5000,
      trace: (m) => steps.push(m),
    });
    assert.equal(got.status, status, got.detail);
    assert.deepEqual(received, ["getstatus\n"]);
    assert.deepEqual(steps.slice(2), [
      `received "${status}\\n"`,
      "the server closed the connection after its reply",
    ]);
  }
});

Deno.test("probe() reports RESET when the server accepts, then resets", async () => {
  await using server = startTestServer((conn) => {
    closeWithReset(conn);
    return Promise.resolve();
  });
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "RESET");
  assert.equal(
    got.detail,
    `127.0.0.1:${server.port}: Connected, then reset by the peer before the prompt`,
  );
  assert.equal(probeExitCode(got), 2);
  assert.equal(nagiosCode(got), 2);
});

Deno.test("probe() reports RESET in the middle of the reply, with what came", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    await new LineReader(conn).readLine();
    await writeAll(conn, encoder.encode("GO"));
    closeWithReset(conn);
  });
  const got = await probe("127.0.0.1", server.port, { timeoutMs: 5000 });
  assert.equal(got.status, "RESET");
  assert.equal(
    got.detail,
    `127.0.0.1:${server.port}: Connected, then reset by the peer while reading the reply to getstatus; got "GO"`,
  );
});
