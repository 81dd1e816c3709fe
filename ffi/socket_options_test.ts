import assert from "node:assert/strict";
import { AF_INET, AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM } from "./constants.ts";
import { check, ErrnoError } from "./errno.ts";
import { socketFdOf } from "./find_fd.ts";
import { libc } from "./libc.ts";
import {
  getLinger,
  getPeerCredentials,
  getSocketCookie,
  getSocketOption,
  setLinger,
  setSocketOption,
  type SocketOption,
} from "./socket_options.ts";

/** A connected pair on 127.0.0.1 and its listener, all closed on dispose. */
async function tcpPair(): Promise<
  & { listener: Deno.TcpListener; client: Deno.TcpConn; server: Deno.TcpConn }
  & Disposable
> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await accepted;
  return {
    listener,
    client,
    server,
    [Symbol.dispose]() {
      server.close();
      client.close();
      listener.close();
    },
  };
}

/** Returns what `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("Expected a throw");
}

Deno.test("setSocketOption() sets TCP_NODELAY and getSocketOption() reads it back", async () => {
  using pair = await tcpPair();
  const fd = socketFdOf(pair.client);
  assert.equal(getSocketOption(fd, "TCP_NODELAY"), 0);
  setSocketOption(fd, "TCP_NODELAY", 1);
  assert.equal(getSocketOption(fd, "TCP_NODELAY"), 1);
});

Deno.test("setSocketOption() sets keepalive and its timing", async () => {
  using pair = await tcpPair();
  const fd = socketFdOf(pair.server);
  assert.equal(getSocketOption(fd, "SO_KEEPALIVE"), 0);
  setSocketOption(fd, "SO_KEEPALIVE", 1);
  setSocketOption(fd, "TCP_KEEPIDLE", 30);
  setSocketOption(fd, "TCP_KEEPINTVL", 7);
  setSocketOption(fd, "TCP_KEEPCNT", 4);
  const values: Partial<Record<SocketOption, number>> = {};
  for (
    const option of [
      "SO_KEEPALIVE",
      "TCP_KEEPIDLE",
      "TCP_KEEPINTVL",
      "TCP_KEEPCNT",
    ] as const
  ) {
    values[option] = getSocketOption(socketFdOf(pair.server), option);
  }
  assert.deepEqual(values, {
    SO_KEEPALIVE: 1,
    TCP_KEEPIDLE: 30,
    TCP_KEEPINTVL: 7,
    TCP_KEEPCNT: 4,
  });
});

Deno.test("getSocketOption() reads SO_REUSEADDR and SO_ACCEPTCONN on Deno sockets", async () => {
  using pair = await tcpPair();
  const listenerFd = socketFdOf(pair.listener);
  assert.equal(getSocketOption(listenerFd, "SO_REUSEADDR"), 1);
  assert.equal(getSocketOption(listenerFd, "SO_ACCEPTCONN"), 1);
  assert.equal(getSocketOption(socketFdOf(pair.client), "SO_ACCEPTCONN"), 0);
  assert.equal(getSocketOption(socketFdOf(pair.server), "SO_ACCEPTCONN"), 0);
});

Deno.test("setSocketOption() sets TCP_LINGER2 on a Deno listener, and accepted conns inherit it", async () => {
  using pair = await tcpPair();
  const fd = socketFdOf(pair.listener);
  // Unset, it reads as the net.ipv4.tcp_fin_timeout sysctl (60 by default).
  let finTimeout = 60;
  try {
    finTimeout = Number(
      await Deno.readTextFile("/proc/sys/net/ipv4/tcp_fin_timeout"),
    );
  } catch {
    // Not readable here: assume the default.
  }
  assert.equal(getSocketOption(fd, "TCP_LINGER2"), finTimeout);
  setSocketOption(fd, "TCP_LINGER2", 15);
  assert.equal(getSocketOption(fd, "TCP_LINGER2"), 15);
  // Linux clamps to TCP_FIN_TIMEOUT_MAX (120 s); negative reads back as -1.
  setSocketOption(fd, "TCP_LINGER2", 500);
  assert.equal(getSocketOption(fd, "TCP_LINGER2"), 120);
  setSocketOption(fd, "TCP_LINGER2", -5);
  assert.equal(getSocketOption(fd, "TCP_LINGER2"), -1);
  setSocketOption(fd, "TCP_LINGER2", 0);
  assert.equal(getSocketOption(fd, "TCP_LINGER2"), finTimeout);
  setSocketOption(fd, "TCP_LINGER2", 7);
  const accepted = pair.listener.accept();
  using client = await Deno.connect({
    hostname: "127.0.0.1",
    port: pair.listener.addr.port,
  });
  using server = await accepted;
  assert.equal(getSocketOption(socketFdOf(server), "TCP_LINGER2"), 7);
  assert.equal(getSocketOption(socketFdOf(client), "TCP_LINGER2"), finTimeout);
});

Deno.test("setSocketOption() sets SO_REUSEPORT, SO_RCVBUF and SO_SNDBUF on a raw socket", () => {
  const fd = check(
    libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    setSocketOption(fd, "SO_REUSEPORT", 1);
    assert.equal(getSocketOption(fd, "SO_REUSEPORT"), 1);
    // The kernel doubles buffer sizes to allow for bookkeeping.
    setSocketOption(fd, "SO_RCVBUF", 65536);
    assert.equal(getSocketOption(fd, "SO_RCVBUF"), 131072);
    setSocketOption(fd, "SO_SNDBUF", 65536);
    assert.equal(getSocketOption(fd, "SO_SNDBUF"), 131072);
  } finally {
    libc().close(fd);
  }
});

Deno.test("setLinger() sets SO_LINGER and getLinger() reads it back", async () => {
  using pair = await tcpPair();
  const fd = socketFdOf(pair.client);
  assert.deepEqual(getLinger(fd), { enabled: false, seconds: 0 });
  setLinger(fd, { enabled: true, seconds: 0 });
  assert.deepEqual(getLinger(fd), { enabled: true, seconds: 0 });
  setLinger(fd, { enabled: true, seconds: 5 });
  assert.deepEqual(getLinger(fd), { enabled: true, seconds: 5 });
});

Deno.test("getSocketCookie() is stable per socket and differs between sockets", async () => {
  using pair = await tcpPair();
  const client = getSocketCookie(socketFdOf(pair.client));
  const server = getSocketCookie(socketFdOf(pair.server));
  assert.equal(typeof client, "bigint");
  assert.ok(client > 0n);
  assert.notEqual(client, server);
  assert.equal(getSocketCookie(socketFdOf(pair.client)), client);
});

Deno.test("getPeerCredentials() reads SO_PEERCRED of a socketpair", async () => {
  const fds = new Int32Array(2);
  check(
    libc().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
    "socketpair",
  );
  const [a = -1, b = -1] = fds;
  try {
    const credentials = getPeerCredentials(a);
    assert.equal(credentials.pid, Deno.pid);
    // A file we create is owned by our uid and gid (Deno.uid() needs --allow-sys).
    const file = await Deno.makeTempFile({
      prefix: "tcpkit_socket_options_test_",
    });
    try {
      const info = await Deno.stat(file);
      assert.deepEqual(credentials, {
        pid: Deno.pid,
        uid: info.uid,
        gid: info.gid,
      });
    } finally {
      await Deno.remove(file);
    }
    assert.deepEqual(getPeerCredentials(b), credentials);
  } finally {
    libc().close(a);
    libc().close(b);
  }
});

/**
 * An fd number no file can have: the soft RLIMIT_NOFILE (open fds are below
 * it). A just-closed fd is not safe: Deno's threads may reuse the number.
 */
function neverOpenFd(): number {
  const limit = new BigUint64Array(2);
  check(libc().getrlimit(7, limit), "getrlimit"); // RLIMIT_NOFILE
  return Math.min(Number(limit[0]), 2 ** 31 - 1);
}

Deno.test("setSocketOption() throws ErrnoError EBADF on a closed fd", () => {
  const fd = neverOpenFd();
  const error = thrown(() => setSocketOption(fd, "TCP_NODELAY", 1));
  assert.ok(error instanceof ErrnoError);
  assert.equal(error.code, "EBADF");
  assert.equal(error.errno, 9);
  assert.equal(error.syscall, "setsockopt");
  assert.equal(
    error.message,
    `Cannot setsockopt TCP_NODELAY on fd ${fd}: EBADF (errno 9)`,
  );
});

Deno.test("getLinger() and getSocketCookie() throw ErrnoError on a closed fd", () => {
  const fd = neverOpenFd();
  assert.throws(() => getLinger(fd), {
    name: "ErrnoError",
    message: `Cannot getsockopt SO_LINGER on fd ${fd}: EBADF (errno 9)`,
  });
  assert.throws(() => getSocketCookie(fd), {
    name: "ErrnoError",
    code: "EBADF",
  });
  assert.throws(() => getSocketOption(fd, "SO_KEEPALIVE"), {
    code: "EBADF",
    syscall: "getsockopt",
  });
});

Deno.test("setSocketOption() throws ErrnoError for a TCP option on a Unix socket", () => {
  const fd = check(
    libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    const error = thrown(() => setSocketOption(fd, "TCP_KEEPIDLE", 10));
    assert.ok(error instanceof ErrnoError);
    // Linux answers EOPNOTSUPP (unix sockets have no protocol-level options).
    assert.ok(["EOPNOTSUPP", "ENOPROTOOPT"].includes(error.code), error.code);
  } finally {
    libc().close(fd);
  }
});

Deno.test("setSocketOption() validates fd, option and value before calling libc", () => {
  assert.throws(() => setSocketOption(-1, "TCP_NODELAY", 1), RangeError);
  assert.throws(() => setSocketOption(1.5, "TCP_NODELAY", 1), TypeError);
  assert.throws(
    () => setSocketOption(0, "SO_BOGUS" as SocketOption, 1),
    TypeError,
  );
  assert.throws(
    () => setSocketOption(0, "toString" as SocketOption, 1),
    TypeError,
  );
  assert.throws(() => setSocketOption(0, "TCP_NODELAY", 2 ** 31), RangeError);
  assert.throws(() => setSocketOption(0, "TCP_NODELAY", 0.5), RangeError);
  assert.throws(
    () => setSocketOption(0, "TCP_NODELAY", Number("1x")),
    RangeError,
  );
  assert.throws(() => getSocketOption(-2, "TCP_NODELAY"), RangeError);
});

Deno.test("setLinger() validates its argument", () => {
  assert.throws(() => setLinger(0, { enabled: true, seconds: -1 }), RangeError);
  assert.throws(
    () => setLinger(0, { enabled: true, seconds: 1.5 }),
    RangeError,
  );
  assert.throws(
    () => setLinger(0, { enabled: 1 as unknown as boolean, seconds: 0 }),
    TypeError,
  );
});
