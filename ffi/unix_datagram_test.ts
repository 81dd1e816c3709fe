import assert from "node:assert/strict";
import { AF_UNIX } from "./constants.ts";
import { ErrnoError } from "./errno.ts";
import { SOCKADDR_UN } from "./layout.ts";
import { closeFd } from "./raw_socket.ts";
import { tryRead } from "./socket_io_attempt.ts";
import {
  bindUnixDatagram,
  encodeUnixAddress,
  sendUnixDatagram,
} from "./unix_datagram.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

Deno.test("encodeUnixAddress() encodes a path as the whole struct", () => {
  const { bytes, length } = encodeUnixAddress("/run/x.sock");
  assert.equal(length, SOCKADDR_UN.size);
  assert.equal(new DataView(bytes.buffer).getUint16(0, true), AF_UNIX);
  assert.equal(decoder.decode(bytes.subarray(2, 13)), "/run/x.sock");
  assert.equal(bytes[13], 0);
});

Deno.test("encodeUnixAddress() encodes @name as an abstract name, the length ending at the name", () => {
  const { bytes, length } = encodeUnixAddress("@sd-notify/1");
  assert.equal(bytes[2], 0);
  assert.equal(decoder.decode(bytes.subarray(3, 3 + 11)), "sd-notify/1");
  assert.equal(length, 2 + 1 + 11);
});

Deno.test("encodeUnixAddress() refuses empty, too long and NUL-bearing addresses", () => {
  assert.throws(() => encodeUnixAddress(""), RangeError);
  assert.throws(() => encodeUnixAddress("@"), RangeError);
  assert.throws(() => encodeUnixAddress("/" + "x".repeat(107)), RangeError);
  assert.throws(() => encodeUnixAddress("@" + "x".repeat(108)), RangeError);
  assert.throws(() => encodeUnixAddress("/tmp/a\0b"), TypeError);
});

Deno.test("sendUnixDatagram() delivers one datagram to a bound path, read whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_dgram_" });
  const path = `${dir}/notify`;
  const fd = bindUnixDatagram(path);
  try {
    sendUnixDatagram(path, encoder.encode("READY=1\nSTATUS=up"));
    sendUnixDatagram(path, encoder.encode("STOPPING=1"));
    const buffer = new Uint8Array(4096);
    const first = tryRead(fd, buffer);
    assert.equal(
      decoder.decode(buffer.subarray(0, first)),
      "READY=1\nSTATUS=up",
    );
    const second = tryRead(fd, buffer);
    assert.equal(decoder.decode(buffer.subarray(0, second)), "STOPPING=1");
  } finally {
    closeFd(fd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendUnixDatagram() reaches an abstract name", () => {
  const name = `@tcpkit-test-${Deno.pid}-${
    Math.random().toString(36).slice(2)
  }`;
  const fd = bindUnixDatagram(name);
  try {
    sendUnixDatagram(name, encoder.encode("WATCHDOG=1"));
    const buffer = new Uint8Array(64);
    const got = tryRead(fd, buffer);
    assert.equal(decoder.decode(buffer.subarray(0, got)), "WATCHDOG=1");
  } finally {
    closeFd(fd);
  }
});

Deno.test("sendUnixDatagram() to nothing throws an ErrnoError naming the address", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_dgram_" });
  try {
    assert.throws(
      () => sendUnixDatagram(`${dir}/none`, encoder.encode("READY=1")),
      (error: unknown) =>
        error instanceof ErrnoError && error.message.includes(`${dir}/none`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendUnixDatagram() never blocks: a full queue throws WouldBlock (EAGAIN)", () => {
  const name = `@tcpkit-test-full-${Deno.pid}-${
    Math.random().toString(36).slice(2)
  }`;
  const fd = bindUnixDatagram(name);
  try {
    // Nobody reads: the receiver's queue (net.unix.max_dgram_qlen, 512 by
    // default) fills, and then a blocking send would wait for ever.
    let sent = 0;
    assert.throws(
      () => {
        for (; sent < 100_000; sent++) {
          sendUnixDatagram(name, encoder.encode("WATCHDOG=1"));
        }
      },
      (error: unknown) =>
        error instanceof Deno.errors.WouldBlock &&
        error.message.includes("EAGAIN"),
    );
    assert.ok(sent > 0, "some datagrams went through first");
  } finally {
    closeFd(fd);
  }
});
