import assert from "node:assert/strict";
import { LineReader, writeAll } from "../common/mod.ts";
import { closeWithReset } from "../ffi/mod.ts";
import { fakeTcpservd, startTestServer } from "../tests/_kit.ts";
import { PeerResetError } from "./peer_reset_error.ts";
import { ProtocolError } from "./protocol_error.ts";
import { showBytes, TcpservdClient } from "./tcpservd_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

/** Rejects if `promise` takes longer than `ms`: a failure bound, not synchronisation. */
async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("showBytes() shows printable ASCII unchanged", () => {
  assert.equal(showBytes(encoder.encode("GOOD > ~")), "GOOD > ~");
});

Deno.test("showBytes() escapes LF and CR", () => {
  assert.equal(showBytes(encoder.encode("a\r\nb\n")), "a\\r\\nb\\n");
});

Deno.test("showBytes() escapes NUL and other control bytes as hex", () => {
  assert.equal(
    showBytes(Uint8Array.of(0x00, 0x09, 0x1b, 0x7f)),
    "\\x00\\x09\\x1b\\x7f",
  );
});

Deno.test("showBytes() escapes bytes that are not UTF-8 instead of hiding them", () => {
  // "printable ASCII, the rest escaped": 0xff and 0xfe must stay distinguishable.
  assert.equal(showBytes(Uint8Array.of(0x41, 0xff, 0xfe)), "A\\xff\\xfe");
});

Deno.test("showBytes() truncates past max with an ellipsis", () => {
  const long = encoder.encode("x".repeat(100));
  assert.equal(showBytes(long), "x".repeat(80) + "…");
  assert.equal(showBytes(encoder.encode("abcd"), 3), "abc…");
});

Deno.test("showBytes() does not truncate exactly max bytes", () => {
  assert.equal(showBytes(encoder.encode("x".repeat(80))), "x".repeat(80));
  assert.equal(showBytes(encoder.encode("abc"), 3), "abc");
});

Deno.test("showBytes() shows nothing for empty bytes", () => {
  assert.equal(showBytes(new Uint8Array(0)), "");
});

Deno.test("TcpservdClient.commandText() returns the reply without prompt or newline", async () => {
  const received: string[] = [];
  await using server = startTestServer(
    fakeTcpservd(() => ["GOOD\n> "], received),
  );
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(await client.commandText("getstatus"), "GOOD");
  assert.deepEqual(received, ["getstatus"]);
});

Deno.test("TcpservdClient.command() returns the reply bytes with the newline, without the prompt", async () => {
  await using server = startTestServer(fakeTcpservd((line) => [`${line}\n> `]));
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.deepEqual(await client.command("hello"), encoder.encode("hello\n"));
});

Deno.test("TcpservdClient.command() sends raw bytes as given", async () => {
  const received: string[] = [];
  await using server = startTestServer(
    fakeTcpservd((line) => [`${line}\n> `], received),
  );
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.deepEqual(
    await client.command(encoder.encode("raw\r\n")),
    encoder.encode("raw\n"),
  );
  assert.deepEqual(received, ["raw"]);
});

Deno.test("TcpservdClient.commandText() returns a multi-line reply", async () => {
  await using server = startTestServer(
    fakeTcpservd(() => ["line 1\nline 2\n> "]),
  );
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(await client.commandText("help"), "line 1\nline 2");
});

Deno.test("TcpservdClient.commandText() joins a reply split across two writes", async () => {
  await using server = startTestServer(fakeTcpservd(() => ["GO", "OD\n> "]));
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(await client.commandText("getstatus"), "GOOD");
});

Deno.test("TcpservdClient.commandText() runs several commands in a row", async () => {
  let bad = false;
  await using server = startTestServer(fakeTcpservd((line) => {
    if (line === "setbad") bad = true;
    return [line === "getstatus" ? (bad ? "BAD\n> " : "GOOD\n> ") : "OK\n> "];
  }));
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(await client.commandText("getstatus"), "GOOD");
  assert.equal(await client.commandText("setbad"), "OK");
  assert.equal(await client.commandText("getstatus"), "BAD");
});

Deno.test("TcpservdClient.quit() sends quit and returns what came before the close", async () => {
  const received: string[] = [];
  await using server = startTestServer(
    fakeTcpservd(() => ["GOOD\n> "], received),
  );
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(await client.commandText("getstatus"), "GOOD");
  assert.deepEqual(await client.quit(), encoder.encode("QUIT\n"));
  assert.deepEqual(received, ["getstatus", "quit"]);
});

Deno.test("TcpservdClient.localAddr is the client's end of the connection", async () => {
  await using server = startTestServer(fakeTcpservd(() => ["GOOD\n> "]));
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(client.localAddr.hostname, "127.0.0.1");
  assert.notEqual(client.localAddr.port, server.port);
  assert.ok(client.localAddr.port > 0);
});

Deno.test("TcpservdClient.close() can be called twice", async () => {
  await using server = startTestServer(fakeTcpservd(() => ["GOOD\n> "]));
  const client = await TcpservdClient.connect("127.0.0.1", server.port);
  client.close();
  client.close();
  await assert.rejects(() => client.commandText("getstatus"));
});

Deno.test("TcpservdClient.connect() rejects with ProtocolError on an error greeting", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("ERR too many connections\n"));
    closeQuietly(conn);
  });
  await assert.rejects(
    () => TcpservdClient.connect("127.0.0.1", server.port),
    (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.match(error.message, /ERR too many connections\\n/);
      return true;
    },
  );
});

Deno.test("TcpservdClient.connect() rejects when the connection is refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    () => TcpservdClient.connect("127.0.0.1", port),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("TcpservdClient.command() rejects with ProtocolError past maxReply", async () => {
  await using server = startTestServer(
    fakeTcpservd(() => ["x".repeat(100) + "\n> "]),
  );
  using client = await TcpservdClient.connect("127.0.0.1", server.port, {
    maxReply: 16,
  });
  await assert.rejects(() => client.command("help"), {
    name: "ProtocolError",
    message: "Reply longer than 16 bytes",
  });
});

Deno.test("TcpservdClient.command() accepts a reply of exactly maxReply bytes", async () => {
  // 13 bytes of text + "\n> " = 16 bytes.
  await using server = startTestServer(
    fakeTcpservd(() => ["x".repeat(13) + "\n> "]),
  );
  using client = await TcpservdClient.connect("127.0.0.1", server.port, {
    maxReply: 16,
  });
  assert.equal(await client.commandText("help"), "x".repeat(13));
});

Deno.test("TcpservdClient.command() rejects with ProtocolError when the server closes first", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    await new LineReader(conn).readLine();
    await writeAll(conn, encoder.encode("GO"));
    closeQuietly(conn);
  });
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  await assert.rejects(() => client.command("getstatus"), {
    name: "ProtocolError",
    message:
      'Connection closed while waiting for the reply to getstatus; got "GO"',
  });
});

Deno.test("TcpservdClient.command() rejects with the abort reason and closes the connection", async () => {
  const gotCommand = Promise.withResolvers<void>();
  const sawEof = Promise.withResolvers<void>();
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    const reader = new LineReader(conn);
    // Never answer; report the command, then the client's close.
    for (let i = 0; i < 100; i++) {
      const line = await reader.readLine();
      if (line === null) break;
      gotCommand.resolve();
    }
    sawEof.resolve();
  });
  const controller = new AbortController();
  using client = await TcpservdClient.connect("127.0.0.1", server.port, {
    signal: controller.signal,
  });
  const outcome = client.command("getstatus").then(
    () => "resolved",
    (error: unknown) => error,
  );
  await withTimeout(gotCommand.promise, 5000, "the command at the server");
  const reason = new Error("Stop now");
  controller.abort(reason);
  assert.equal(
    await withTimeout(outcome, 5000, "the command to reject"),
    reason,
  );
  await withTimeout(sawEof.promise, 5000, "the server to see the close");
});

Deno.test("TcpservdClient.connect() rejects with the abort reason while waiting for the prompt", async () => {
  const accepted = Promise.withResolvers<void>();
  await using server = startTestServer(() => {
    accepted.resolve();
    return Promise.resolve();
  });
  const controller = new AbortController();
  const outcome = TcpservdClient.connect("127.0.0.1", server.port, {
    signal: controller.signal,
  })
    .then((client) => {
      client.close();
      return "resolved";
    }, (error: unknown) => error);
  await withTimeout(accepted.promise, 5000, "the accept");
  const reason = new Error("Give up");
  controller.abort(reason);
  assert.equal(await withTimeout(outcome, 5000, "connect to reject"), reason);
});

/** tcpservd 1.0's reply: `text`, padded with NULs to 1024 bytes, in one write. */
function padded(text: string): Uint8Array {
  const bytes = new Uint8Array(1024);
  encoder.encodeInto(text, bytes);
  return bytes;
}

Deno.test("TcpservdClient reads tcpservd 1.0: bare prompt, NUL-padded reply, close", async () => {
  const received: string[] = [];
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode(">"));
    const line = await new LineReader(conn).readLine();
    received.push(decoder.decode(line?.bytes));
    await writeAll(conn, padded("GOOD\n"));
    closeQuietly(conn);
  });
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(client.serverClosed, false);
  assert.deepEqual(await client.command("getstatus"), encoder.encode("GOOD\n"));
  assert.equal(client.serverClosed, true);
  assert.deepEqual(received, ["getstatus"]);
});

Deno.test("TcpservdClient takes a bare > after tcpservd 1.0's padding as the prompt", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode(">"));
    const reader = new LineReader(conn);
    await reader.readLine();
    await writeAll(conn, padded("BAD\n"));
    await writeAll(conn, encoder.encode(">"));
    await reader.readLine();
    await writeAll(conn, new Uint8Array([...padded("quit\n"), 0x3e]));
    closeQuietly(conn);
  });
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(await client.commandText("getstatus"), "BAD");
  assert.equal(client.serverClosed, false);
  assert.deepEqual(
    await client.quit(),
    new Uint8Array([...padded("quit\n"), 0x3e]),
  );
});

Deno.test('TcpservdClient drops the space of a "> " prompt that comes after its ">"', async () => {
  await using server = startTestServer(async (conn) => {
    // The greeting's ">" goes alone: the client answers it before the rest comes.
    await writeAll(conn, encoder.encode(">"));
    const reader = new LineReader(conn);
    await reader.readLine();
    await writeAll(conn, encoder.encode(" GOOD\n>"));
    await reader.readLine();
    await writeAll(conn, encoder.encode(" hello\n> "));
  });
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  assert.equal(await client.commandText("getstatus"), "GOOD");
  assert.equal(await client.commandText("hello"), "hello");
});

Deno.test("TcpservdClient.readReply() removes tcpservd 1.0's padding and says so", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode(">"));
    await new LineReader(conn).readLine();
    await writeAll(conn, padded("Status is setbad\n"));
    closeQuietly(conn);
  });
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  await client.send(encoder.encode("setbad\n"));
  const { reply, ended, padded: wasPadded } = await client.readReply();
  assert.equal(decoder.decode(reply), "Status is setbad\n");
  assert.equal(ended, "eof");
  assert.equal(wasPadded, true);
});

Deno.test("TcpservdClient.command() rejects with ProtocolError for NULs too few to be padding", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    await new LineReader(conn).readLine();
    await writeAll(conn, encoder.encode("GOOD\n\0\0"));
    closeQuietly(conn);
  });
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  await assert.rejects(() => client.command("getstatus"), ProtocolError);
});

Deno.test("TcpservdClient.connect() rejects with PeerResetError when the server accepts, then resets", async () => {
  await using server = startTestServer((conn) => {
    closeWithReset(conn);
    return Promise.resolve();
  });
  await assert.rejects(
    () => TcpservdClient.connect("127.0.0.1", server.port),
    (error: unknown) => {
      assert.ok(error instanceof PeerResetError, String(error));
      assert.equal(
        error.message,
        "Connected, then reset by the peer before the prompt",
      );
      assert.ok(error.cause instanceof Deno.errors.ConnectionReset);
      return true;
    },
  );
});

Deno.test("TcpservdClient.command() rejects with PeerResetError saying what it was reading", async () => {
  await using server = startTestServer(async (conn) => {
    await writeAll(conn, encoder.encode("> "));
    await new LineReader(conn).readLine();
    await writeAll(conn, encoder.encode("GO"));
    closeWithReset(conn);
  });
  using client = await TcpservdClient.connect("127.0.0.1", server.port);
  await assert.rejects(() => client.command("getstatus"), {
    name: "PeerResetError",
    message:
      'Connected, then reset by the peer while reading the reply to getstatus; got "GO"',
  });
});
