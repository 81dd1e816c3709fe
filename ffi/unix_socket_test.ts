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
  probeUnixPath,
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

/** The names in `dir`, sorted. */
async function namesIn(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("listenUnix() refuses a regular file, a directory or a link at the path, and loses nothing", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "precious");
    await Deno.mkdir(`${dir}/dir`);
    await Deno.symlink(`${dir}/file`, `${dir}/link`);
    for (
      const [name, type] of [
        ["file", "regular file"],
        ["dir", "directory"],
        ["link", "symbolic link"],
      ]
    ) {
      assert.throws(
        () => listenUnix(`${dir}/${name}`),
        (error: unknown) =>
          error instanceof Deno.errors.AlreadyExists &&
          error.message ===
            `Cannot listen on ${dir}/${name}: a ${type} is there, not a stale socket; remove it first`,
      );
    }
    assert.equal(await Deno.readTextFile(`${dir}/file`), "precious");
    assert.equal((await Deno.lstat(`${dir}/dir`)).isDirectory, true);
    assert.equal((await Deno.lstat(`${dir}/link`)).isSymlink, true);
    // No temporary name is left behind.
    assert.deepEqual(await namesIn(dir), ["dir", "file", "link"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listenUnix() refuses a path a server listens on, unless replaceLive allows it", async () => {
  const dir = await tempDir();
  const path = `${dir}/ctl.sock`;
  const first = listenUnix(path);
  const fds = [first];
  try {
    assert.throws(
      () => listenUnix(path),
      (error: unknown) =>
        error instanceof Deno.errors.AddrInUse &&
        error.message ===
          `Cannot listen on ${path}: a server listens there (pid ${Deno.pid}, uid ${libc().geteuid()})`,
    );
    // The first still owns the path: a client reaches it.
    const client = connectUnix(path);
    fds.push(client);
    // A Unix connect that returned has queued the connection already.
    const accepted = acceptSocket(first);
    assert.ok(accepted !== null, "the first listener got the client");
    fds.push(accepted);
    const seen: unknown[] = [];
    const second = listenUnix(path, {
      replaceLive: (peer) => {
        seen.push(peer?.pid);
        return true;
      },
    });
    fds.push(second);
    // The first listener's queue held the probe: the peer was known.
    assert.deepEqual(seen, [Deno.pid]);
    assert.deepEqual(await namesIn(dir), ["ctl.sock"]);
    fds.push(connectUnix(path));
    const reached = acceptSocket(second);
    assert.ok(reached !== null, "the path now names the second listener");
    fds.push(reached);
  } finally {
    for (const fd of fds) closeFd(fd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeUnixPath() tells nothing, stale, live and other apart", async () => {
  const dir = await tempDir();
  const path = `${dir}/ctl.sock`;
  try {
    assert.deepEqual(probeUnixPath(path), { kind: "none" });
    const fd = listenUnix(path);
    try {
      const live = probeUnixPath(path);
      assert.equal(live.kind, "live");
      assert.equal(live.kind === "live" ? live.peer?.pid : 0, Deno.pid);
    } finally {
      closeFd(fd);
    }
    assert.deepEqual(probeUnixPath(path), { kind: "stale" });
    await Deno.remove(path);
    await Deno.mkdir(path);
    assert.deepEqual(probeUnixPath(path), { kind: "other", type: "directory" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listenUnix() replaces a socket left at its temporary name, but not a file", async () => {
  const dir = await tempDir();
  const path = `${dir}/ctl.sock`;
  const temporary = `${path}.${Deno.pid}`;
  try {
    // A crashed run of this pid left its temporary socket behind.
    const leftover = Deno.listen({ transport: "unix", path: temporary });
    leftover.close();
    const fd = listenUnix(path);
    closeFd(fd);
    assert.deepEqual(await namesIn(dir), ["ctl.sock"]);
    await Deno.writeTextFile(temporary, "precious");
    assert.throws(() => listenUnix(path), Deno.errors.AlreadyExists);
    assert.equal(await Deno.readTextFile(temporary), "precious");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
