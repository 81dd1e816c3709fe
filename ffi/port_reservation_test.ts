import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  F_DUPFD_CLOEXEC,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./constants.ts";
import { check, EAGAIN, errno } from "./errno.ts";
import { waitFor } from "../tests/_kit.ts";
import { SOCKADDR_STORAGE } from "./layout.ts";
import { libc } from "./libc.ts";
import { PortReservation } from "./port_reservation.ts";
import {
  decodeSockaddr,
  encodeSockaddr,
  fromNetAddr,
  parseIp,
  sameAddress,
} from "./sockaddr.ts";
import { socketCookies } from "./socket_cookies.ts";
import { getSocketOption, setSocketOption } from "./socket_options.ts";

// `Deno.listen({ reusePort: true })` needs --unstable-net, which the test
// task does not pass (without it Deno prints an error and exits the whole
// process with code 70). So the group's listeners here are raw FFI sockets,
// plus one child Deno run with --unstable-net.

// Decided at load time so IPv6 tests can be marked `ignore`.
const HAS_DUAL_STACK = (() => {
  try {
    Deno.listen({ hostname: "::", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

/** A raw listener with SO_REUSEADDR and SO_REUSEPORT, as Deno's reusePort makes. */
function rawReusePortListener(
  hostname: string,
  port: number,
): { fd: number } & Disposable {
  const bytes = parseIp(hostname);
  const family = bytes.length === 4 ? "ipv4" : "ipv6";
  const fd = check(
    libc().socket(
      family === "ipv4" ? AF_INET : AF_INET6,
      SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
      0,
    ),
    "socket",
  );
  try {
    setSocketOption(fd, "SO_REUSEADDR", 1);
    setSocketOption(fd, "SO_REUSEPORT", 1);
    const sockaddr = encodeSockaddr({ family, address: bytes, port });
    check(libc().bind(fd, sockaddr, sockaddr.byteLength), "bind");
    check(libc().listen(fd, 16), "listen");
  } catch (error) {
    libc().close(fd);
    throw error;
  }
  return { fd, [Symbol.dispose]: closeOnce(fd) };
}

/**
 * A dispose that closes `fd` the first time only. A test may dispose early
 * (to drop a listener) and `using` disposes again at the end of the scope:
 * by then another worker of the test process may hold the number, and a
 * second close() would close its fd.
 */
function closeOnce(fd: number): () => void {
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    libc().close(fd);
  };
}

/** Accepts one connection on a non-blocking raw listener, waiting (bounded) up to `ms`; returns its fd and peer. */
async function rawAccept(
  listenerFd: number,
  ms: number,
): Promise<
  { fd: number; peer: ReturnType<typeof decodeSockaddr> } & Disposable
> {
  const address = new Uint8Array(SOCKADDR_STORAGE.size);
  const length = new Uint32Array([address.byteLength]);
  const fd = await waitFor(() => {
    length[0] = address.byteLength;
    const got = libc().accept4(listenerFd, address, length, SOCK_CLOEXEC);
    if (got >= 0) return got;
    if (errno() === EAGAIN) return undefined;
    return check(got, "accept4");
  }, { what: "a connection on the raw listener", ms, intervalMs: 5 });
  return {
    fd,
    peer: decodeSockaddr(address, length[0]),
    [Symbol.dispose]: closeOnce(fd),
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

Deno.test("a raw listener disposed early is not closed again when its scope ends", () => {
  // What the test below does: an early dispose, then `using`'s. A socket of
  // ours takes the number in between; the second dispose must leave it be.
  let landed = false;
  for (let attempt = 0; attempt < 20 && !landed; attempt++) {
    const spare = check(
      libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
      "socket",
    );
    const cookie = socketCookies([spare])[0]!;
    let number = -1;
    let copy = -1;
    try {
      {
        using listener = rawReusePortListener("127.0.0.1", 0);
        number = listener.fd;
        listener[Symbol.dispose]();
        // The lowest free number from `number` up; it never replaces an
        // open fd, so when another worker took `number` first, try again.
        copy = check(
          libc().fcntl(spare, F_DUPFD_CLOEXEC, number),
          "fcntl",
        );
      }
      if (copy !== number) continue;
      landed = true;
      assert.ok(
        ownedBy(copy, cookie),
        `the second dispose closed fd ${copy}, no longer the listener's`,
      );
    } finally {
      // Only while it is still our socket: never close what another took.
      if (copy >= 0 && ownedBy(copy, cookie)) libc().close(copy);
      libc().close(spare);
    }
  }
  assert.ok(landed, "another worker always took the number first");
});

/** Whether `fd` is open and is the socket with this cookie. */
function ownedBy(fd: number, cookie: bigint): boolean {
  try {
    return socketCookies([fd])[0] === cookie;
  } catch {
    return false;
  }
}

Deno.test("PortReservation.reserve() binds 127.0.0.1:0 to a free port without listening", () => {
  using reservation = PortReservation.reserve("127.0.0.1", 0);
  assert.ok(reservation.port > 0 && reservation.port <= 65535);
  assert.equal(reservation.port, reservation.port);
});

Deno.test("PortReservation receives no connections: refused alone, delivered to a reusePort listener", async () => {
  using reservation = PortReservation.reserve("127.0.0.1", 0);
  const port = reservation.port;
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  using listener = rawReusePortListener("127.0.0.1", port);
  assert.equal(getSocketOption(listener.fd, "SO_ACCEPTCONN"), 1);
  for (let i = 0; i < 3; i++) {
    using client = await Deno.connect({ hostname: "127.0.0.1", port });
    using accepted = await rawAccept(listener.fd, 5000);
    assert.ok(accepted.peer !== null);
    assert.ok(sameAddress(accepted.peer, fromNetAddr(client.localAddr)));
  }
  // With the group's listener gone, the port is refused again, still held.
  listener[Symbol.dispose]();
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  assert.throws(
    () => Deno.listen({ hostname: "127.0.0.1", port }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("PortReservation keeps a plain Deno.listen (no reusePort) off the port", () => {
  using reservation = PortReservation.reserve("127.0.0.1", 0);
  const port = reservation.port;
  assert.throws(
    () => Deno.listen({ hostname: "127.0.0.1", port }),
    Deno.errors.AddrInUse,
  );
  assert.throws(
    () => Deno.listen({ hostname: "0.0.0.0", port }),
    Deno.errors.AddrInUse,
  );
  // Also while a reusePort listener is in the group.
  using _listener = rawReusePortListener("127.0.0.1", port);
  assert.throws(
    () => Deno.listen({ hostname: "127.0.0.1", port }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("PortReservation.reserve() of a port a plain Deno.listen holds throws AddrInUse", () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const error = thrown(() =>
    PortReservation.reserve("127.0.0.1", listener.addr.port)
  );
  assert.ok(error instanceof Deno.errors.AddrInUse);
  assert.equal((error as Error & { code?: string }).code, "EADDRINUSE");
  assert.match(
    (error as Error).message,
    new RegExp(
      `^Cannot bind 127\\.0\\.0\\.1:${listener.addr.port} on fd \\d+: EADDRINUSE \\(errno 98\\)$`,
    ),
  );
});

Deno.test("PortReservation.reserve() of a port a raw reusePort listener holds joins it", async () => {
  using first = PortReservation.reserve("127.0.0.1", 0);
  using listener = rawReusePortListener("127.0.0.1", first.port);
  using second = PortReservation.reserve("127.0.0.1", first.port);
  assert.equal(second.port, first.port);
  using client = await Deno.connect({
    hostname: "127.0.0.1",
    port: first.port,
  });
  using accepted = await rawAccept(listener.fd, 5000);
  assert.ok(accepted.peer !== null);
  assert.ok(sameAddress(accepted.peer, fromNetAddr(client.localAddr)));
});

/** Makes a port whose only socket is a connection in TIME-WAIT (the server closed first). */
async function timeWaitPort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  try {
    const accepted = listener.accept();
    using client = await Deno.connect({ hostname: "127.0.0.1", port });
    const server = await accepted;
    server.close();
    assert.equal(await client.read(new Uint8Array(1)), null);
  } finally {
    listener.close();
  }
  return port;
}

Deno.test("PortReservation.reserve() takes a port with connections left in TIME-WAIT", async () => {
  // Deno's listeners can rebind such a port (SO_REUSEADDR); so must we.
  // Under `deno test --parallel` about 1 bind in 1000 here met EADDRINUSE
  // from another process's short-lived socket on the freed port (an
  // immediate retry worked), so a few fresh ports are tried.
  const errors: unknown[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await timeWaitPort();
    let reservation: PortReservation;
    try {
      reservation = PortReservation.reserve("127.0.0.1", port);
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      errors.push(error);
      continue;
    }
    using _reservation = reservation;
    assert.equal(reservation.port, port);
    assert.throws(
      () => Deno.listen({ hostname: "127.0.0.1", port }),
      Deno.errors.AddrInUse,
    );
    return;
  }
  assert.fail(`Every attempt failed: ${errors.join("; ")}`);
});

Deno.test("PortReservation.close() releases the port and is idempotent", () => {
  const reservation = PortReservation.reserve("127.0.0.1", 0);
  const port = reservation.port;
  reservation.close();
  reservation.close();
  reservation[Symbol.dispose]();
  assert.equal(reservation.port, port);
  using listener = Deno.listen({ hostname: "127.0.0.1", port });
  assert.equal(listener.addr.port, port);
});

Deno.test({
  name: "PortReservation on :: holds the port for IPv6 and IPv4 (dual stack)",
  ignore: !HAS_DUAL_STACK,
  async fn() {
    using reservation = PortReservation.reserve("::", 0);
    const port = reservation.port;
    assert.ok(port > 0);
    assert.throws(
      () => Deno.listen({ hostname: "::", port }),
      Deno.errors.AddrInUse,
    );
    assert.throws(
      () => Deno.listen({ hostname: "0.0.0.0", port }),
      Deno.errors.AddrInUse,
    );
    // Another SO_REUSEPORT socket of this user may share it, on IPv4 too.
    PortReservation.reserve("127.0.0.1", port).close();
    // A dual-stack reusePort listener joins and gets IPv4 clients.
    using listener = rawReusePortListener("::", port);
    using client = await Deno.connect({ hostname: "127.0.0.1", port });
    using accepted = await rawAccept(listener.fd, 5000);
    assert.ok(accepted.peer !== null);
    assert.ok(sameAddress(accepted.peer, fromNetAddr(client.localAddr)));
  },
});

Deno.test("PortReservation lets a Deno.listen({ reusePort: true }) in a child (--unstable-net) serve the port", async () => {
  using reservation = PortReservation.reserve("127.0.0.1", 0);
  const port = reservation.port;
  const script = `
    using listener = Deno.listen({ hostname: "127.0.0.1", port: ${port}, reusePort: true });
    console.log("ready");
    using conn = await listener.accept();
    await conn.write(new TextEncoder().encode("hi"));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--unstable-net", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("Child timed out")), 30_000);
  });
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  try {
    const first = await Promise.race([stdout.read(), timeout]);
    if (first.value?.trim() !== "ready") {
      assert.fail(`Child not ready: ${await stderr}`);
    }
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const buffer = new Uint8Array(2);
    let filled = 0;
    while (filled < buffer.length) {
      const n = await Promise.race([
        conn.read(buffer.subarray(filled)),
        timeout,
      ]);
      assert.ok(n !== null, "Unexpected EOF");
      filled += n;
    }
    assert.equal(new TextDecoder().decode(buffer), "hi");
    const status = await Promise.race([child.status, timeout]);
    if (status.code !== 0) assert.fail(`Child failed: ${await stderr}`);
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await stdout.cancel();
    await stderr;
  }
});

Deno.test("PortReservation.reserve() maps errors and validates arguments", () => {
  // 192.0.2.1 (TEST-NET-1) is not an address of this host.
  assert.throws(
    () => PortReservation.reserve("192.0.2.1", 0),
    Deno.errors.AddrNotAvailable,
  );
  assert.throws(() => PortReservation.reserve("localhost", 0), TypeError);
  assert.throws(() => PortReservation.reserve("127.0.0.1", 65536), RangeError);
  assert.throws(() => PortReservation.reserve("127.0.0.1", -1), RangeError);
  assert.throws(() => PortReservation.reserve("127.0.0.1", 1.5), RangeError);
});
