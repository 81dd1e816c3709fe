import assert from "node:assert/strict";
import { within } from "../tests/_helpers.ts";
import { socketFdOf } from "./find_fd.ts";
import { getSockName } from "./sockaddr.ts";
import { closeWithReset } from "./reset_close.ts";

// Decided at load time so the `ss` test can be marked `ignore`.
const HAS_SS = (() => {
  try {
    return new Deno.Command("ss", {
      args: ["-V"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** A connected pair on 127.0.0.1 and its listener; dispose closes what is left. */
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
      for (const resource of [server, client, listener]) {
        try {
          resource.close();
        } catch (error) {
          if (!(error instanceof Deno.errors.BadResource)) throw error;
        }
      }
    },
  };
}

/** The fds below 4096 that are IPv4 sockets bound to nothing (0.0.0.0:0). */
function unboundSockets(): number[] {
  const fds: number[] = [];
  for (let fd = 0; fd < 4096; fd++) {
    const address = getSockName(fd);
    if (
      address?.family === "ipv4" && address.port === 0 &&
      address.address.every((byte) => byte === 0)
    ) {
      fds.push(fd);
    }
  }
  return fds;
}

/** Polls {@linkcode tcpStates} until `done` says so or 2 s pass; returns the last states. */
async function settledStates(
  portA: number,
  portB: number,
  done: (states: string[]) => boolean,
): Promise<string[]> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const states = await tcpStates(portA, portB);
    if (done(states) || Date.now() > deadline) return states;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** TCP states from `ss -tanH` of sockets between the two ports, either way round. */
async function tcpStates(portA: number, portB: number): Promise<string[]> {
  const output = await new Deno.Command("ss", {
    args: ["-tanH"],
    stdin: "null",
    stderr: "null",
  }).output();
  assert.ok(output.success, "ss -tanH failed");
  const states: string[] = [];
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    // State Recv-Q Send-Q Local:Port Peer:Port
    const [state = "", , , local = "", peer = ""] = line.trim().split(/\s+/);
    const ends = [local, peer].map((address) =>
      Number(address.slice(address.lastIndexOf(":") + 1))
    );
    if (
      (ends[0] === portA && ends[1] === portB) ||
      (ends[0] === portB && ends[1] === portA)
    ) {
      states.push(state);
    }
  }
  return states.sort();
}

Deno.test("closeWithReset() makes the peer's read() fail with ConnectionReset, not EOF", async () => {
  using pair = await tcpPair();
  closeWithReset(pair.server);
  await assert.rejects(
    () => within(5000, "a read", pair.client.read(new Uint8Array(16))),
    Deno.errors.ConnectionReset,
  );
  // The conn is closed for Deno too.
  assert.throws(() => pair.server.close(), Deno.errors.BadResource);
});

Deno.test("closeWithReset() resets a conn that carried data and has unread input", async () => {
  using pair = await tcpPair();
  // Data the server never read: a plain close() would reset too, so this
  // only checks nothing is delivered before the RST.
  await pair.client.write(new TextEncoder().encode("unread"));
  await pair.server.write(new TextEncoder().encode("x"));
  const buffer = new Uint8Array(16);
  assert.equal(await within(5000, "a read", pair.client.read(buffer)), 1);
  closeWithReset(pair.server);
  await assert.rejects(
    () => within(5000, "a read", pair.client.read(buffer)),
    Deno.errors.ConnectionReset,
  );
});

Deno.test("closeWithReset() settles a read() pending on the conn and still resets", async () => {
  using pair = await tcpPair();
  const pending = pair.server.read(new Uint8Array(16)).then(
    (n) => ({ ok: true, value: n }),
    (error: unknown) => ({ ok: false, value: error }),
  );
  // Let the read reach the kernel (it waits in Deno's reactor).
  await new Promise((resolve) => setTimeout(resolve, 20));
  closeWithReset(pair.server);
  const settled = await within(5000, "the close", pending);
  if (settled.ok) {
    assert.equal(settled.value, null);
  } else {
    // Measured: Interrupted ("operation canceled") from conn.close().
    assert.ok(settled.value instanceof Error, String(settled.value));
  }
  await assert.rejects(
    () => within(5000, "a read", pair.client.read(new Uint8Array(16))),
    Deno.errors.ConnectionReset,
  );
});

Deno.test("closeWithReset() on an already-closed conn does not throw", async () => {
  using pair = await tcpPair();
  pair.server.close();
  closeWithReset(pair.server);
  closeWithReset(pair.server);
  // The client saw the ordinary FIN of that first close().
  assert.equal(
    await within(5000, "a read", pair.client.read(new Uint8Array(16))),
    null,
  );
});

Deno.test("closeWithReset() on a conn its peer already reset just closes it", async () => {
  using pair = await tcpPair();
  closeWithReset(pair.client);
  // The server end is open for Deno but reset: getpeername() fails, so the
  // fd is not found and only conn.close() runs.
  await assert.rejects(
    () => within(5000, "a read", pair.server.read(new Uint8Array(16))),
    Deno.errors.ConnectionReset,
  );
  assert.throws(() => socketFdOf(pair.server), Deno.errors.NotFound);
  closeWithReset(pair.server);
  assert.throws(() => pair.server.close(), Deno.errors.BadResource);
});

Deno.test("closeWithReset() leaks no fd: the socket and the dummy are both closed", async () => {
  using pair = await tcpPair();
  const before = new Set(unboundSockets());
  closeWithReset(pair.server);
  // The dummy is an unbound IPv4 socket; none may be left behind. (Counting
  // all fds does not work: Deno's other threads, and test modules running in
  // parallel in this process, open fds meanwhile. A socket of theirs is gone
  // or bound a moment later; a leaked dummy stays, so look a few times.)
  let extra = unboundSockets().filter((fd) => !before.has(fd));
  for (let i = 0; i < 20 && extra.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    extra = unboundSockets().filter((fd) => !before.has(fd));
  }
  assert.deepEqual(extra, []);
  assert.throws(() => socketFdOf(pair.server), Deno.errors.NotFound);
  await assert.rejects(
    () => within(5000, "a read", pair.client.read(new Uint8Array(16))),
    Deno.errors.ConnectionReset,
  );
});

Deno.test({
  name:
    "closeWithReset() leaves no socket in CLOSE-WAIT, FIN-WAIT or TIME-WAIT (ss)",
  ignore: !HAS_SS,
  async fn() {
    // Control: Deno's own close() sends a FIN, so both ends linger half-closed.
    {
      using pair = await tcpPair();
      const serverPort = pair.listener.addr.port;
      const clientPort = pair.client.localAddr.port;
      pair.server.close();
      assert.equal(
        await within(5000, "a read", pair.client.read(new Uint8Array(16))),
        null,
      );
      // Server FIN-WAIT-2, client CLOSE-WAIT, once loopback has settled
      // (under load ss showed FIN-WAIT-1, or no server end, for a moment).
      const states = await settledStates(
        serverPort,
        clientPort,
        (states) => states.join() === "CLOSE-WAIT,FIN-WAIT-2",
      );
      assert.deepEqual(states, ["CLOSE-WAIT", "FIN-WAIT-2"]);
    }
    using pair = await tcpPair();
    const serverPort = pair.listener.addr.port;
    const clientPort = pair.client.localAddr.port;
    assert.deepEqual(await tcpStates(serverPort, clientPort), [
      "ESTAB",
      "ESTAB",
    ]);
    closeWithReset(pair.server);
    // The server end is gone at once: at most the client is left, still
    // ESTAB until it has processed the RST.
    const now = await tcpStates(serverPort, clientPort);
    assert.ok(
      now.length === 0 || now.join() === "ESTAB",
      `unexpected ${now.join(", ")}`,
    );
    // Then the reset client socket is in CLOSE, which ss does not list (its
    // fd is still open in Deno): nothing half-closed, nothing in TIME-WAIT.
    assert.deepEqual(
      await settledStates(serverPort, clientPort, (s) => s.length === 0),
      [],
    );
    await assert.rejects(
      () => within(5000, "a read", pair.client.read(new Uint8Array(16))),
      Deno.errors.ConnectionReset,
    );
  },
});
