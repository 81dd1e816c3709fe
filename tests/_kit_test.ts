import assert from "node:assert/strict";
import {
  fakeTcpservd,
  fdCountSettled,
  readExactly,
  startTestServer,
  tcpPair,
  waitFor,
} from "./_helpers.ts";

Deno.test("waitFor resolves with the first truthy value", async () => {
  let calls = 0;
  const value = await waitFor(() => ++calls >= 3 && calls, {
    what: "three calls",
    intervalMs: 1,
  });
  assert.equal(value, 3);
});

Deno.test("waitFor fails naming what it waited for, bounded in time", async () => {
  const started = performance.now();
  await assert.rejects(
    waitFor(() => false, { what: "the impossible", ms: 100, intervalMs: 10 }),
    /Timed out .* waiting for the impossible/,
  );
  assert.ok(performance.now() - started < 2000);
});

Deno.test("waitFor is bounded in tries", async () => {
  let calls = 0;
  await assert.rejects(
    waitFor(() => {
      calls++;
      return false;
    }, { what: "nothing", ms: 10_000, intervalMs: 1, tries: 4 }),
    /4 tries/,
  );
  assert.equal(calls, 4);
});

Deno.test("waitFor cuts off a check that hangs", async () => {
  const hang = Promise.withResolvers<boolean>();
  await assert.rejects(
    waitFor(() => hang.promise, { what: "a hanging check", ms: 50 }),
    /a hanging check/,
  );
  hang.resolve(false);
});

Deno.test("tcpPair connects both ends", async () => {
  await using pair = await tcpPair();
  await pair.client.write(new TextEncoder().encode("hi"));
  const buf = new Uint8Array(2);
  let got = 0;
  while (got < 2) {
    const n = await pair.server.read(buf.subarray(got));
    assert.notEqual(n, null);
    got += n!;
  }
  assert.equal(new TextDecoder().decode(buf), "hi");
  assert.equal(pair.client.remoteAddr.port, pair.server.localAddr.port);
});

Deno.test("fdCountSettled nudges until the count is back, and returns a count still high", async () => {
  let fds = 10;
  let nudges = 0;
  const settled = await fdCountSettled(() => Promise.resolve(fds), 7, () => {
    nudges++;
    fds--;
    return Promise.resolve();
  });
  assert.equal(settled, 7);
  assert.equal(nudges, 3);
  const stuck = await fdCountSettled(
    () => Promise.resolve(9),
    7,
    () => Promise.resolve(),
    { tries: 5 },
  );
  assert.equal(stuck, 9, "a leak stays visible to the caller's assertion");
});

Deno.test("readExactly reads across writes, and fails on EOF or silence", async () => {
  await using pair = await tcpPair();
  await pair.client.write(new TextEncoder().encode("ab"));
  await pair.client.write(new TextEncoder().encode("cd"));
  assert.equal(
    new TextDecoder().decode(await readExactly(pair.server, 4)),
    "abcd",
  );
  await pair.client.write(new TextEncoder().encode("e"));
  await pair.client.closeWrite();
  await assert.rejects(readExactly(pair.server, 2), /EOF after 1 of 2 bytes/);
  // A timeout leaves its read pending: that conn is not read again.
  await using silent = await tcpPair();
  await assert.rejects(
    readExactly(silent.server, 1, 50),
    /Timed out after 50 ms with 0 of 1 bytes/,
  );
});

Deno.test("fakeTcpservd speaks the prompt, getstatus and quit; startTestServer cleans up", async () => {
  const received: string[] = [];
  await using server = startTestServer(fakeTcpservd("BAD", received));
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  assert.equal(decoder.decode(await readExactly(conn, 2)), "> ");
  await conn.write(encoder.encode("getstatus\nhello\r\nquit\n"));
  const expected = "BAD\n> hello\n> QUIT\n";
  assert.equal(
    decoder.decode(await readExactly(conn, expected.length)),
    expected,
  );
  assert.equal(await conn.read(new Uint8Array(1)), null, "closed after quit");
  assert.deepEqual(received, ["getstatus", "hello", "quit"]);
  assert.equal(server.conns.length, 1);
});
