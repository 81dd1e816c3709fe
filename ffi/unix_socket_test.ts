import assert from "node:assert/strict";
import { AF_UNIX } from "./constants.ts";
import { ErrnoError } from "./errno.ts";
import { SOCKADDR_UN } from "./layout.ts";
import { closeFd } from "./raw_socket.ts";
import { getPeerCredentials } from "./socket_options.ts";
import {
  connectUnix,
  encodeSockaddrUn,
  listenUnix,
  unlinkPath,
} from "./unix_socket.ts";
import { acceptSocket } from "./raw_socket.ts";
import { libc } from "./libc.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "tcpkit_unix_" });
}

Deno.test("encodeSockaddrUn() writes the family and the NUL-terminated path", () => {
  const bytes = encodeSockaddrUn("/tmp/x.sock");
  assert.equal(bytes.length, SOCKADDR_UN.size);
  assert.equal(new DataView(bytes.buffer).getUint16(0, true), AF_UNIX);
  assert.equal(
    new TextDecoder().decode(bytes.subarray(2, 2 + 11)),
    "/tmp/x.sock",
  );
  assert.equal(bytes[2 + 11], 0);
  assert.throws(() => encodeSockaddrUn(""), RangeError);
  assert.throws(() => encodeSockaddrUn("/" + "x".repeat(107)), RangeError);
  assert.throws(() => encodeSockaddrUn("/tmp/a\0b"), TypeError);
});

Deno.test("listenUnix() creates the socket with mode 0600, not what the umask gives", async () => {
  const dir = await tempDir();
  const path = `${dir}/ctl.sock`;
  let fd = -1;
  try {
    fd = listenUnix(path);
    const info = await Deno.lstat(path);
    assert.equal(info.isSocket, true);
    assert.equal(info.mode! & 0o777, 0o600);
    // No temporary name is left behind.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["ctl.sock"]);
  } finally {
    if (fd >= 0) closeFd(fd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listenUnix() replaces a stale socket file, and connectUnix() reaches it", async () => {
  const dir = await tempDir();
  const path = `${dir}/ctl.sock`;
  const first = listenUnix(path);
  closeFd(first); // the file stays: a stale socket
  assert.throws(() => connectUnix(path), Deno.errors.ConnectionRefused);
  const fd = listenUnix(path, { mode: 0o640 });
  try {
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o640);
    const client = connectUnix(path);
    let server: number | null = null;
    for (let i = 0; i < 100 && server === null; i++) {
      server = acceptSocket(fd);
      if (server === null) await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(server !== null);
    const peer = getPeerCredentials(server);
    assert.equal(peer.pid, Deno.pid);
    assert.equal(peer.uid, libc().getuid());
    closeFd(server);
    closeFd(client);
  } finally {
    closeFd(fd);
    assert.equal(unlinkPath(path), true);
    assert.equal(unlinkPath(path), false);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connectUnix() to a missing path throws ErrnoError ENOENT", () => {
  assert.throws(
    () => connectUnix("/nonexistent-tcpkit-dir/ctl.sock"),
    (error: unknown) => error instanceof ErrnoError && error.code === "ENOENT",
  );
});

Deno.test("listenUnix() rejects a path too long for sockaddr_un with its suffix", () => {
  assert.throws(() => listenUnix("/tmp/" + "x".repeat(100)), RangeError);
  assert.throws(() => listenUnix("/tmp/x", { mode: 0o10000 }), RangeError);
});
