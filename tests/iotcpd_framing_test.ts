/**
 * How iotcpd frames requests, as a separate process over real sockets:
 * line endings pass through untouched, a line cut by end of stream gets
 * `ERR`, and the idle timeout counts complete lines only.
 */
import assert from "node:assert/strict";
import { readUntil, waitFor } from "./_helpers.ts";
import {
  ask,
  bytes,
  exchange,
  IotcpdProcess,
  ScriptDir,
} from "./_iotcpd_helpers.ts";

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * What the daemon (`tee FILE`, one of it) has read before a `sync` line.
 * tee writes its stdout before the file, so the reply to `sync` does not
 * prove the file written yet: wait (bounded) until the file ends with it.
 */
async function daemonInput(port: number, file: string): Promise<Uint8Array> {
  assert.equal(await ask(port, "sync"), "sync\n");
  const sync = bytes("sync\n");
  const seen = await waitFor(async () => {
    const now = await Deno.readFile(file);
    const tail = now.subarray(now.length - sync.length);
    return tail.length === sync.length && tail.every((b, i) => b === sync[i])
      ? now
      : undefined;
  }, { what: "tee to write the sync line to its file" });
  return seen.subarray(0, seen.length - sync.length);
}

Deno.test("iotcpd passes CRLF and LF requests to the daemon as they are", async () => {
  await using dir = await ScriptDir.create();
  const file = `${dir.path}/seen`;
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "-d",
    `tee ${file}`,
  ]);
  const crlf = bytes("hello\r\n");
  const lf = bytes("hello\n");
  // A CR inside the line and a doubled one before the LF.
  const crs = bytes("a\rb\r\r\n");
  assert.deepEqual((await exchange(iotcpd.port, crlf)).reply, crlf);
  assert.deepEqual((await exchange(iotcpd.port, lf)).reply, lf);
  assert.deepEqual((await exchange(iotcpd.port, crs)).reply, crs);
  assert.deepEqual(
    await daemonInput(iotcpd.port, file),
    concat(crlf, lf, crs),
  );
});

Deno.test("iotcpd returns the reply's line ending as the daemon wrote it", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "--shell",
    "-d",
    `while IFS= read -r l; do printf 'ok %s\\r\\n' "$l"; done`,
  ]);
  assert.equal((await exchange(iotcpd.port, "x\n")).text, "ok x\r\n");
  // The daemon kept the request's CR; the reply carries it back.
  assert.equal((await exchange(iotcpd.port, "y\r\n")).text, "ok y\r\r\n");
});

Deno.test("iotcpd answers ERR to a line cut by a half-close; no daemon sees it", async () => {
  await using dir = await ScriptDir.create();
  const file = `${dir.path}/seen`;
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "-d",
    `tee ${file}`,
  ]);
  const cut = await exchange(iotcpd.port, "abc", { closeWrite: true });
  assert.equal(cut.text, "ERR\n");
  assert.ok(cut.ms < 1000, `ERR after ${cut.ms} ms`);
  // Nothing at all before the half-close asks nothing: a plain close.
  const empty = await exchange(iotcpd.port, "", { closeWrite: true });
  assert.equal(empty.text, "");
  assert.deepEqual(await daemonInput(iotcpd.port, file), new Uint8Array());
  const stats = await iotcpd.statistics();
  // The sync line only; the two others closed without a request.
  assert.equal(stats.counters["queries total"], 1);
  assert.equal(stats.counters["queries unknown"], 2);
});

Deno.test("iotcpd --keep-alive answers the complete lines, then ERR to one cut by a half-close", async () => {
  await using iotcpd = await IotcpdProcess.start(["-n", "1", "--keep-alive"]);
  const result = await exchange(iotcpd.port, "a\nb\nc", { closeWrite: true });
  assert.equal(result.text, "a\nb\nERR\n");
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["queries total"], 2);
  assert.equal(stats.counters["queries replied"], 2);
});

Deno.test("iotcpd's idle timeout counts complete lines only: bytes trickled without a newline get ERR", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "--idle-timeout",
    "0.5",
    "-a",
    "0.1",
  ]);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: iotcpd.port });
  const started = performance.now();
  let closed = false;
  // One byte every 100 ms, 4 s at most: far more often than the timeout.
  const trickle = (async () => {
    for (let i = 0; i < 40 && !closed; i++) {
      try {
        await conn.write(bytes("x"));
      } catch {
        return; // iotcpd has closed: the point of the test.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const answer = await readUntil(conn, () => false, 5000);
  const ms = performance.now() - started;
  closed = true;
  await trickle;
  assert.deepEqual(answer, { text: "ERR\n", eof: true });
  // The timeout plus one sweep, plus slack; well before the trickle ends.
  assert.ok(ms >= 450 && ms < 1500, `ERR after ${ms} ms`);
});

Deno.test("iotcpd --keep-alive: complete lines keep a connection past the idle timeout, silence then closes it", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "1",
    "--keep-alive",
    "--idle-timeout",
    "0.5",
    "-a",
    "0.1",
  ]);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: iotcpd.port });
  const started = performance.now();
  // A line every 200 ms for 1.6 s: over three idle timeouts in all.
  for (let i = 0; i < 8; i++) {
    await conn.write(bytes(`l${i}\n`));
    const reply = await readUntil(conn, (text) => text.endsWith("\n"), 2000);
    assert.deepEqual(reply, { text: `l${i}\n`, eof: false });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(performance.now() - started > 1500);
  // Every request answered, nothing begun: a plain close.
  const idle = performance.now();
  assert.deepEqual(await readUntil(conn, () => false, 5000), {
    text: "",
    eof: true,
  });
  const ms = performance.now() - idle;
  assert.ok(ms < 1500, `closed after ${ms} ms`);
});
