import assert from "node:assert/strict";
import { F_DUPFD_CLOEXEC, SO_ACCEPTCONN, SOL_SOCKET } from "./constants.ts";
import { libc } from "./libc.ts";
import {
  acceptSocket,
  closeFd,
  listenTcp,
  readSocket,
  sendSocket,
} from "./raw_socket.ts";
import { getSocketOption } from "./socket_options.ts";

async function acceptWithin(fd: number, ms = 5000): Promise<number> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const accepted = acceptSocket(fd);
    if (accepted !== null) return accepted;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error("Nothing to accept");
}

async function readWithin(
  fd: number,
  buffer: Uint8Array,
  ms = 5000,
): Promise<number> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const n = readSocket(fd, buffer);
    if (n !== null) return n;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error("Nothing to read");
}

Deno.test("listenTcp() listens on 127.0.0.1:0 and reports the real port", () => {
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.equal(listener.address.family, "ipv4");
    assert.ok(listener.address.port > 0);
    assert.equal(getSocketOption(listener.fd, "SO_ACCEPTCONN"), 1);
    assert.equal(getSocketOption(listener.fd, "SO_REUSEADDR"), 1);
    assert.equal(acceptSocket(listener.fd), null, "nothing waits yet");
  } finally {
    closeFd(listener.fd);
  }
  assert.equal(SO_ACCEPTCONN, 30);
  assert.equal(SOL_SOCKET, 1);
});

Deno.test("listenTcp() maps a taken port to AddrInUse", () => {
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(
      () =>
        listenTcp({
          hostname: "127.0.0.1",
          port: listener.address.port,
          reuseAddr: false,
        }),
      Deno.errors.AddrInUse,
    );
    assert.throws(
      () => listenTcp({ hostname: "127.0.0.1", port: 0, backlog: 0 }),
      RangeError,
    );
    assert.throws(
      () => listenTcp({ hostname: "localhost", port: 0 }),
      TypeError,
    );
  } finally {
    closeFd(listener.fd);
  }
});

Deno.test("acceptSocket(), readSocket() and sendSocket() carry bytes both ways", async () => {
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.address.port,
  });
  const fd = await acceptWithin(listener.fd);
  try {
    const buffer = new Uint8Array(64);
    assert.equal(readSocket(fd, buffer), null, "EAGAIN reads as null");
    await client.write(new TextEncoder().encode("hello"));
    const n = await readWithin(fd, buffer);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, n)), "hello");
    assert.equal(sendSocket(fd, new TextEncoder().encode("world")), 5);
    const back = new Uint8Array(5);
    assert.equal(await client.read(back), 5);
    assert.equal(new TextDecoder().decode(back), "world");
    client.close();
    assert.equal(await readWithin(fd, buffer), 0, "EOF reads as 0");
  } finally {
    closeFd(fd);
    closeFd(listener.fd);
  }
});

Deno.test("closeFd() of one copy sends no FIN while another copy lives", async () => {
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.address.port,
  });
  const fd = await acceptWithin(listener.fd);
  const copy = libc().fcntl(fd, F_DUPFD_CLOEXEC, 0);
  try {
    closeFd(fd);
    // The connection still works through the copy: no FIN, no RST.
    assert.equal(sendSocket(copy, new TextEncoder().encode("still")), 5);
    const back = new Uint8Array(5);
    assert.equal(await client.read(back), 5);
    await client.write(new TextEncoder().encode("up"));
    const buffer = new Uint8Array(8);
    const n = await readWithin(copy, buffer);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, n)), "up");
  } finally {
    closeFd(copy);
    client.close();
    closeFd(listener.fd);
  }
});

Deno.test("sendSocket() to a reset peer throws ConnectionReset or BrokenPipe", async () => {
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.address.port,
  });
  const fd = await acceptWithin(listener.fd);
  try {
    client.close();
    const buffer = new Uint8Array(8);
    assert.equal(await readWithin(fd, buffer), 0);
    // The first send draws an RST from the closed peer; a later one fails.
    let failure: unknown;
    for (let i = 0; i < 50 && failure === undefined; i++) {
      try {
        sendSocket(fd, new Uint8Array(1));
      } catch (error) {
        failure = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(
      failure instanceof Deno.errors.ConnectionReset ||
        failure instanceof Deno.errors.BrokenPipe,
      String(failure),
    );
  } finally {
    closeFd(fd);
    closeFd(listener.fd);
  }
});
