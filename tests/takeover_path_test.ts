/**
 * What `takeover server -t PATH` does with what is already at PATH, as
 * separate processes: a stale socket is replaced; a file, a directory, or
 * a server that still offers there is refused and kept.
 */
import assert from "node:assert/strict";
import { CommandProcess, connect, readExactly } from "./_helpers.ts";
import {
  openTempDir,
  TAKEOVER_RUN,
  TakeoverProcess,
} from "./_takeover_helpers.ts";

/** `takeover server -a 127.0.0.1 -p 0 -t PATH` to completion (bounded). */
async function offerOn(
  path: string,
): Promise<{ code: number; stderr: string }> {
  await using server = new CommandProcess([
    ...TAKEOVER_RUN,
    "server",
    "-a",
    "127.0.0.1",
    "-p",
    "0",
    "-t",
    path,
  ]);
  const status = await server.wait(15000);
  return { code: status.code, stderr: server.stderr };
}

/** The server echoes a seqnum frame. */
async function assertServes(port: number, seqnum: number): Promise<void> {
  const conn = await connect(port);
  try {
    const frame = new Uint8Array(4);
    new DataView(frame.buffer).setUint32(0, seqnum);
    await conn.write(frame);
    const reply = await readExactly(conn, 4, 5000);
    assert.equal(new DataView(reply.buffer).getUint32(0), seqnum);
  } finally {
    conn.close();
  }
}

Deno.test("takeover -t refuses a regular file or a directory at PATH and keeps it (exit 71)", async () => {
  await using dir = await openTempDir();
  const file = `${dir.path}/notes.txt`;
  await Deno.writeTextFile(file, "precious");
  const refused = await offerOn(file);
  assert.equal(refused.code, 71, refused.stderr);
  assert.match(
    refused.stderr,
    /cannot offer takeover on .*notes\.txt: Cannot listen on .*notes\.txt: a regular file is there, not a stale socket; remove it first/,
  );
  assert.equal(await Deno.readTextFile(file), "precious");
  await Deno.mkdir(`${dir.path}/sub`);
  const directory = await offerOn(`${dir.path}/sub`);
  assert.equal(directory.code, 71, directory.stderr);
  assert.match(directory.stderr, /a directory is there, not a stale socket/);
  assert.doesNotMatch(directory.stderr, /UNKNOWN|errno 21/);
  const names = [];
  for await (const entry of Deno.readDir(dir.path)) names.push(entry.name);
  assert.deepEqual(names.sort(), ["notes.txt", "sub"]);
});

Deno.test("takeover -t refuses a PATH another server still offers on; that one keeps it", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  await using first = await TakeoverProcess.offering(path);
  const second = await offerOn(path);
  assert.equal(second.code, 71, second.stderr);
  assert.match(
    second.stderr,
    new RegExp(
      `Cannot listen on .*takeover\\.sock: a server listens there \\(pid ${first.pid}, uid \\d+\\)`,
    ),
  );
  // PATH is still the first's: a takeover there takes the first over.
  await using next = new TakeoverProcess([
    ...TAKEOVER_RUN,
    "server",
    "-T",
    path,
  ]);
  await next.waitForLine(
    new RegExp(
      `took over 0 connections and 1 listener from .* \\(pid ${first.pid}\\)`,
    ),
  );
  assert.equal((await first.wait()).code, 0);
  await next.waitForLine(
    new RegExp(`listening on 127\\.0\\.0\\.1:${first.port}$`),
  );
  await assertServes(first.port, 5);
});

Deno.test("takeover -t replaces a stale socket left by a killed server", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  await using killed = await TakeoverProcess.offering(path);
  killed.kill("SIGKILL");
  await killed.wait();
  assert.equal((await Deno.lstat(path)).isSocket, true, "a stale socket");
  await using server = await TakeoverProcess.offering(path);
  await assertServes(server.port, 9);
  assert.equal(server.exited, undefined);
});

Deno.test("takeover -T PATH -t FILE refuses before taking anything over (exit 71); the old process serves on", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  const file = `${dir.path}/notes.txt`;
  await Deno.writeTextFile(file, "precious");
  await using old = await TakeoverProcess.offering(path);
  await using next = new CommandProcess([
    ...TAKEOVER_RUN,
    "server",
    "-T",
    path,
    "-t",
    file,
  ]);
  const status = await next.wait(15000);
  assert.equal(status.code, 71, next.stderr);
  assert.match(
    next.stderr,
    /cannot offer takeover on .*notes\.txt: a regular file is there, not a stale socket; remove it first; not taking over/,
  );
  assert.doesNotMatch(old.stderr, /handing over/);
  assert.equal(await Deno.readTextFile(file), "precious");
  await assertServes(old.port, 3);
  assert.equal(old.exited, undefined);
});
