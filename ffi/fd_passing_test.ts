import assert from "node:assert/strict";
import {
  AF_UNIX,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./constants.ts";
import { check } from "./errno.ts";
import {
  MAX_FDS_PER_MESSAGE,
  receiveWithFds,
  sendWithFds,
} from "./fd_passing.ts";
import { libc } from "./libc.ts";
import { socketCookies } from "./socket_cookies.ts";
import { getSocketCookie } from "./socket_options.ts";

function socketPair(): [number, number] {
  const sv = new Int32Array(2);
  check(
    libc().socketpair(
      AF_UNIX,
      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
      0,
      sv,
    ),
    "socketpair",
  );
  return [sv[0]!, sv[1]!];
}

Deno.test("sendWithFds() passes 253 fds in one message; they are the same sockets", () => {
  const [a, b] = socketPair();
  const pairs = Array.from({ length: 127 }, socketPair);
  const sent = pairs.flat().slice(0, MAX_FDS_PER_MESSAGE);
  const received: number[] = [];
  try {
    assert.equal(sent.length, 253);
    assert.equal(sendWithFds(a, new Uint8Array([42]), sent), 1);
    const buffer = new Uint8Array(16);
    const got = receiveWithFds(b, buffer);
    assert.ok(got !== null);
    received.push(...got.fds);
    assert.equal(got.bytes, 1);
    assert.equal(buffer[0], 42);
    assert.equal(got.fds.length, 253);
    // New numbers, same sockets.
    assert.deepEqual(socketCookies(got.fds), socketCookies(sent));
    assert.equal(socketCookies([sent[0]!])[0], getSocketCookie(sent[0]!));
    assert.equal(receiveWithFds(b, buffer), null, "nothing more: EAGAIN");
  } finally {
    for (const fd of [a, b, ...pairs.flat(), ...received]) libc().close(fd);
  }
});

Deno.test("sendWithFds() refuses 254 fds and an empty payload", () => {
  const [a, b] = socketPair();
  try {
    assert.throws(
      () => sendWithFds(a, new Uint8Array(1), new Array(254).fill(a)),
      RangeError,
    );
    assert.throws(() => sendWithFds(a, new Uint8Array(0), [b]), RangeError);
  } finally {
    libc().close(a);
    libc().close(b);
  }
});

Deno.test("receiveWithFds() never mixes the fds of two messages", () => {
  const [a, b] = socketPair();
  const [x, y] = socketPair();
  const received: number[] = [];
  try {
    sendWithFds(a, new TextEncoder().encode("first"), [x]);
    sendWithFds(a, new TextEncoder().encode("second"), [y]);
    const buffer = new Uint8Array(64);
    const one = receiveWithFds(b, buffer)!;
    received.push(...one.fds);
    assert.equal(
      new TextDecoder().decode(buffer.subarray(0, one.bytes)),
      "first",
    );
    assert.equal(one.fds.length, 1);
    const two = receiveWithFds(b, buffer)!;
    received.push(...two.fds);
    assert.equal(
      new TextDecoder().decode(buffer.subarray(0, two.bytes)),
      "second",
    );
    assert.deepEqual(socketCookies(two.fds), socketCookies([y]));
  } finally {
    for (const fd of [a, b, x, y, ...received]) libc().close(fd);
  }
});

Deno.test("receiveWithFds() reads 0 bytes at end of file", () => {
  const [a, b] = socketPair();
  try {
    libc().close(a);
    const got = receiveWithFds(b, new Uint8Array(8));
    assert.deepEqual(got, { bytes: 0, fds: [] });
  } finally {
    libc().close(b);
  }
});
