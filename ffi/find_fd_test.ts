import assert from "node:assert/strict";
import { socketFdOf } from "./find_fd.ts";
import { libc } from "./libc.ts";
import {
  fromNetAddr,
  getPeerName,
  getSockName,
  sameAddress,
} from "./sockaddr.ts";
import {
  getSocketCookie,
  getSocketOption,
  setSocketOption,
} from "./socket_options.ts";

// Decided at load time so IPv6 tests can be marked `ignore`.
function canListen(hostname: string): boolean {
  try {
    Deno.listen({ hostname, port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}
const HAS_IPV6_LOOPBACK = canListen("::1");
const HAS_DUAL_STACK = canListen("::");

/** Connects `count` clients to `listener` and accepts them, in order. */
async function connectMany(
  listener: Deno.TcpListener,
  count: number,
): Promise<{ clients: Deno.TcpConn[]; servers: Deno.TcpConn[] }> {
  const clients: Deno.TcpConn[] = [];
  const servers: Deno.TcpConn[] = [];
  const { hostname, port } = listener.addr;
  const accepting = (async () => {
    for (let i = 0; i < count; i++) servers.push(await listener.accept());
  })();
  try {
    for (let i = 0; i < count; i++) {
      clients.push(await Deno.connect({ hostname, port }));
    }
    await accepting;
  } catch (error) {
    for (const conn of [...clients, ...servers]) conn.close();
    throw error;
  }
  return { clients, servers };
}

/** Asserts that `fd` is the socket behind `conn`. */
function assertIsConn(fd: number, conn: Deno.Conn): void {
  const local = getSockName(fd);
  const peer = getPeerName(fd);
  assert.ok(
    local !== null && peer !== null,
    `fd ${fd} is a connected IP socket`,
  );
  assert.ok(sameAddress(local, fromNetAddr(conn.localAddr as Deno.NetAddr)));
  assert.ok(sameAddress(peer, fromNetAddr(conn.remoteAddr as Deno.NetAddr)));
}

Deno.test("socketFdOf() finds a listener and both ends of a connection on 127.0.0.1", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  using server = await accepted;
  const listenerFd = socketFdOf(listener);
  const clientFd = socketFdOf(client);
  const serverFd = socketFdOf(server);
  assert.equal(new Set([listenerFd, clientFd, serverFd]).size, 3);
  assert.ok(
    sameAddress(
      getSockName(listenerFd) ?? assert.fail(),
      fromNetAddr(listener.addr),
    ),
  );
  assert.equal(getSocketOption(listenerFd, "SO_ACCEPTCONN"), 1);
  assertIsConn(clientFd, client);
  assertIsConn(serverFd, server);
  // Same socket, same answer.
  assert.equal(socketFdOf(client), clientFd);
  assert.equal(getSocketCookie(socketFdOf(client)), getSocketCookie(clientFd));
});

Deno.test({
  name: "socketFdOf() finds sockets on [::1]",
  ignore: !HAS_IPV6_LOOPBACK,
  async fn() {
    using listener = Deno.listen({ hostname: "::1", port: 0 });
    const accepted = listener.accept();
    using client = await Deno.connect({
      hostname: "::1",
      port: listener.addr.port,
    });
    using server = await accepted;
    const listenerFd = socketFdOf(listener);
    assert.equal(getSockName(listenerFd)?.family, "ipv6");
    assert.equal(getSocketOption(listenerFd, "SO_ACCEPTCONN"), 1);
    assertIsConn(socketFdOf(client), client);
    assertIsConn(socketFdOf(server), server);
  },
});

Deno.test({
  name:
    "socketFdOf() matches ::ffff: peers of a dual-stack listener to IPv4 clients",
  ignore: !HAS_DUAL_STACK,
  async fn() {
    using listener = Deno.listen({ hostname: "::", port: 0 });
    const accepted = listener.accept();
    using client = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
    });
    using server = await accepted;
    assert.equal(server.remoteAddr.hostname, "::ffff:127.0.0.1");
    const listenerFd = socketFdOf(listener);
    const serverFd = socketFdOf(server);
    const clientFd = socketFdOf(client);
    assert.equal(new Set([listenerFd, serverFd, clientFd]).size, 3);
    assert.equal(getSocketOption(listenerFd, "SO_ACCEPTCONN"), 1);
    assertIsConn(serverFd, server);
    assertIsConn(clientFd, client);
    // The two ends see each other: the server's peer is the client's local address.
    assert.ok(
      sameAddress(
        getPeerName(serverFd) ?? assert.fail(),
        getSockName(clientFd) ?? assert.fail(),
      ),
    );
  },
});

Deno.test("socketFdOf() maps 200 accepted connections one-to-one", async () => {
  const count = 200;
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { clients, servers } = await connectMany(listener, count);
  try {
    const fds = new Set<number>();
    for (const [i, server] of servers.entries()) {
      const fd = socketFdOf(server);
      fds.add(fd);
      setSocketOption(fd, "TCP_KEEPIDLE", 100 + i);
    }
    for (const [i, client] of clients.entries()) {
      const fd = socketFdOf(client);
      fds.add(fd);
      setSocketOption(fd, "TCP_KEEPIDLE", 1000 + i);
    }
    assert.equal(fds.size, 2 * count);
    // Read back per conn after all were set: a wrong or shared fd shows here.
    for (const [i, server] of servers.entries()) {
      assert.equal(
        getSocketOption(socketFdOf(server), "TCP_KEEPIDLE"),
        100 + i,
      );
    }
    for (const [i, client] of clients.entries()) {
      assert.equal(
        getSocketOption(socketFdOf(client), "TCP_KEEPIDLE"),
        1000 + i,
      );
    }
  } finally {
    for (const conn of [...clients, ...servers]) conn.close();
  }
});

Deno.test("socketFdOf() finds the fd a raw write() reaches the right peer through", async () => {
  const count = 20;
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { clients, servers } = await connectMany(listener, count);
  try {
    const encoder = new TextEncoder();
    for (const [i, server] of servers.entries()) {
      const token = encoder.encode(`token-${i.toString().padStart(4, "0")}`);
      assert.equal(
        libc().write(socketFdOf(server), token, BigInt(token.byteLength)),
        10n,
      );
    }
    const decoder = new TextDecoder();
    await Promise.all(clients.map(async (client, i) => {
      const buffer = new Uint8Array(10);
      let filled = 0;
      while (filled < buffer.length) {
        const n = await client.read(buffer.subarray(filled));
        assert.ok(n !== null, "Unexpected EOF");
        filled += n;
      }
      assert.equal(
        decoder.decode(buffer),
        `token-${i.toString().padStart(4, "0")}`,
      );
    }));
  } finally {
    for (const conn of [...clients, ...servers]) conn.close();
  }
});

Deno.test("socketFdOf() throws NotFound for a closed connection", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  using _server = await accepted;
  client.close();
  assert.throws(() => socketFdOf(client), {
    name: "NotFound",
    message: new RegExp(
      `^Cannot find the fd of TCP connection 127\\.0\\.0\\.1:${client.localAddr.port} -> ` +
        `127\\.0\\.0\\.1:${listener.addr.port}: no open socket matches \\(scanned fds 0 to \\d+\\)$`,
    ),
  });
});

Deno.test("socketFdOf() throws NotFound for a closed listener", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  assert.throws(() => socketFdOf(listener), Deno.errors.NotFound);
});

Deno.test("socketFdOf() throws TypeError for a Unix socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_find_fd_test_" });
  try {
    using listener = Deno.listen({ transport: "unix", path: `${dir}/sock` });
    assert.throws(() => socketFdOf(listener), {
      name: "TypeError",
      message: "Cannot find the fd of a unix socket: only TCP is supported",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
