import assert from "node:assert/strict";
import { closeFd, getSockName, listenTcp, unixSocketPair } from "../ffi/mod.ts";
import {
  ListenerHandOff,
  ListenerHandOffError,
  receiveListener,
} from "./worker_listener.ts";

/** A hand-off of a fresh TCP listener on 127.0.0.1, in a temp root of its own. */
async function withHandOff(
  isWorker: (pid: number) => boolean,
  body: (handOff: ListenerHandOff, port: number, root: string) => Promise<void>,
  listenFd?: number,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tcpkit_worker_listener_" });
  const tcp = listenTcp({ hostname: "127.0.0.1", port: 0 });
  const handOff = ListenerHandOff.open({
    listenFd: listenFd ?? tcp.fd,
    isWorker,
    root,
  });
  try {
    await body(handOff, tcp.address.port, root);
  } finally {
    await handOff.close();
    closeFd(tcp.fd);
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("ListenerHandOff gives a worker a duplicate of the listener, from a 0600 socket in a 0700 directory it removes at close", async () => {
  let path = "";
  await withHandOff((pid) => pid === Deno.pid, async (handOff, port, root) => {
    path = handOff.path;
    assert.ok(path.startsWith(`${root}/tcpservd-`));
    const dir = path.slice(0, path.lastIndexOf("/"));
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    const socket = await Deno.lstat(path);
    assert.ok(socket.isSocket);
    assert.equal(socket.mode! & 0o777, 0o600);
    const fd = await receiveListener(path, { masterPid: Deno.pid });
    try {
      assert.equal(getSockName(fd)?.port, port);
      // The duplicate accepts what comes to the port.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
    } finally {
      closeFd(fd);
    }
    const second = await receiveListener(path, { masterPid: Deno.pid });
    closeFd(second);
    assert.equal(handOff.handedOut, 2);
    assert.equal(handOff.refused, 0);
  });
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  await assert.rejects(
    Deno.lstat(path.slice(0, path.lastIndexOf("/"))),
    Deno.errors.NotFound,
  );
});

Deno.test("ListenerHandOff hangs up on a peer that is not one of its workers", async () => {
  await withHandOff(() => false, async (handOff) => {
    await assert.rejects(
      receiveListener(handOff.path, { masterPid: Deno.pid }),
      (error: unknown) =>
        error instanceof ListenerHandOffError &&
        /hung up .* without a listener/.test(error.message),
    );
    assert.equal(handOff.refused, 1);
    assert.equal(handOff.handedOut, 0);
  });
});

Deno.test("receiveListener() refuses a socket that its master does not serve", async () => {
  await withHandOff(() => true, async (handOff) => {
    await assert.rejects(
      receiveListener(handOff.path, { masterPid: 1 }),
      (error: unknown) =>
        error instanceof ListenerHandOffError &&
        new RegExp(`served by pid ${Deno.pid} .*not by the master \\(pid 1,`)
          .test(error.message),
    );
  });
  await assert.rejects(
    receiveListener("/nonexistent-tcpkit/listener.sock"),
    /Cannot reach the master's listener socket .*ENOENT/,
  );
});

Deno.test("receiveListener() refuses an fd that is not a listening TCP socket", async () => {
  const [a, b] = unixSocketPair();
  try {
    await withHandOff(() => true, async (handOff) => {
      await assert.rejects(
        receiveListener(handOff.path, { masterPid: Deno.pid }),
        /sent a Unix stream socket on .*, not a listening TCP socket/,
      );
    }, a);
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

Deno.test("ListenerHandOff removes its socket and directory on a forced exit (Deno.exit) too", async () => {
  const root = await Deno.makeTempDir({ prefix: "tcpkit_worker_listener_" });
  try {
    const module = new URL("./worker_listener.ts", import.meta.url).href;
    const ffi = new URL("../ffi/mod.ts", import.meta.url).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        `import { listenTcp } from "${ffi}";
import { ListenerHandOff } from "${module}";
const tcp = listenTcp({ hostname: "127.0.0.1", port: 0 });
const handOff = ListenerHandOff.open({ listenFd: tcp.fd, isWorker: () => false, root: ${
          JSON.stringify(root)
        } });
console.log(handOff.path);
Deno.exit(70);`,
      ],
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 70, new TextDecoder().decode(out.stderr));
    const path = new TextDecoder().decode(out.stdout).trim();
    assert.ok(path.startsWith(`${root}/tcpservd-`), path);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(root)), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
