/**
 * How iotcpd frames requests, as a separate process over real sockets:
 * line endings pass through untouched.
 */
import assert from "node:assert/strict";
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
 * What the daemon (`tee FILE`, one of it) has read so far. tee writes its
 * stdout before the file, so a reply does not prove the file written:
 * the reply to a later request does.
 */
async function daemonInput(port: number, file: string): Promise<Uint8Array> {
  assert.equal(await ask(port, "sync"), "sync\n");
  const seen = await Deno.readFile(file);
  const sync = bytes("sync\n");
  assert.deepEqual(seen.subarray(seen.length - sync.length), sync);
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
