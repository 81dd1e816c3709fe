import assert from "node:assert/strict";
import {
  decodeFrameHeader,
  decodeMessage,
  encodeFrame,
  FRAME_HEADER_BYTES,
  fromBase64,
  MAX_FDS_PER_FRAME,
  MAX_FRAME_BYTES,
  toBase64,
} from "./protocol.ts";

Deno.test("encodeFrame() writes length and fd count big-endian, then the JSON", () => {
  const frame = encodeFrame({ type: "ready" }, 3);
  const header = decodeFrameHeader(frame);
  assert.equal(header.fdCount, 3);
  assert.equal(header.length, frame.length - FRAME_HEADER_BYTES);
  assert.deepEqual(Array.from(frame.subarray(4, 8)), [0, 0, 0, 3]);
  assert.deepEqual(
    decodeMessage(frame.subarray(FRAME_HEADER_BYTES)),
    { type: "ready" },
  );
  assert.equal(MAX_FDS_PER_FRAME, 253);
  assert.throws(() => encodeFrame({ type: "ready" }, 254), RangeError);
});

Deno.test("decodeFrameHeader() rejects oversized frames and fd counts", () => {
  const header = new Uint8Array(8);
  const view = new DataView(header.buffer);
  view.setUint32(0, MAX_FRAME_BYTES + 1);
  assert.throws(() => decodeFrameHeader(header), RangeError);
  view.setUint32(0, 10);
  view.setUint32(4, 254);
  assert.throws(() => decodeFrameHeader(header), RangeError);
});

Deno.test("decodeMessage() accepts every message of the protocol", () => {
  const messages = [
    { type: "hello", protocol: 1, pid: 42 },
    { type: "refused", reason: "no" },
    { type: "prepare", listeners: 1, connections: 1000 },
    { type: "ready" },
    {
      type: "batch",
      index: 0,
      listeners: [{
        kind: "listener",
        network: "tcp",
        addr: "127.0.0.1:80",
        cookie: "7",
      }],
      connections: [{
        id: 1,
        local: "127.0.0.1:80",
        remote: "127.0.0.1:5000",
        cookie: "8",
        unread: "AAE=",
        unsent: "",
        state: { n: 1 },
        closing: false,
      }],
    },
    {
      type: "end",
      protocol: 1,
      pid: 42,
      batches: 1,
      listeners: 1,
      connections: 1,
      nextId: 2,
      appState: null,
    },
    { type: "ack", pid: 43 },
    { type: "commit" },
  ];
  for (const message of messages) {
    const bytes = new TextEncoder().encode(JSON.stringify(message));
    assert.deepEqual(decodeMessage(bytes), message);
  }
});

Deno.test("decodeMessage() rejects malformed or unknown messages", () => {
  const bad = [
    "not json",
    "[]",
    '{"type":"nope"}',
    '{"type":"hello","protocol":"1","pid":1}',
    '{"type":"batch","index":0,"listeners":[{}],"connections":[]}',
    '{"type":"end","protocol":1,"pid":1,"batches":0,"listeners":0,"connections":0,"nextId":1}',
  ];
  for (const text of bad) {
    assert.throws(
      () => decodeMessage(new TextEncoder().encode(text)),
      TypeError,
      text,
    );
  }
  assert.throws(() => decodeMessage(new Uint8Array([0xff, 0xfe])), TypeError);
});

Deno.test("toBase64() and fromBase64() round-trip any bytes", () => {
  const bytes = new Uint8Array(70000).map((_, i) => (i * 7) & 0xff);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.equal(toBase64(new Uint8Array(0)), "");
  assert.deepEqual(fromBase64(""), new Uint8Array(0));
  assert.equal(toBase64(new Uint8Array([0, 1])), "AAE=");
  assert.throws(() => fromBase64("!!"), TypeError);
});
