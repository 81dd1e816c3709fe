import assert from "node:assert/strict";
import {
  ECHO_LINE_BYTES,
  EchoPayload,
  LinePayload,
  tcpservdPayload,
} from "./soak_payload.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const line = (s: string) => new TextEncoder().encode(s);

Deno.test("EchoPayload encodes 16-byte numbered lines and parses them back", () => {
  const p = new EchoPayload();
  const out = new Uint8Array(40);
  assert.equal(p.encode(42, out, 3), ECHO_LINE_BYTES);
  const written = text(out.subarray(3, 3 + ECHO_LINE_BYTES));
  assert.match(written, /^#0000000042 [a-z]{3}\n$/);
  const body = out.subarray(3, 3 + ECHO_LINE_BYTES - 1);
  assert.equal(EchoPayload.parse(body), 42);
  assert.deepEqual(p.check(body, 42), { kind: "ok", index: 42 });
  assert.deepEqual(p.check(body, 41), {
    kind: "wrong",
    why: "unexpected",
    index: 42,
  });
  p.encode(9_999_999_999, out, 0);
  assert.equal(EchoPayload.parse(out.subarray(0, 15)), 9_999_999_999);
});

Deno.test("EchoPayload finds any corrupted byte", () => {
  const p = new EchoPayload();
  const out = new Uint8Array(ECHO_LINE_BYTES);
  p.encode(1234, out, 0);
  for (let i = 0; i < ECHO_LINE_BYTES - 1; i++) {
    const bad = out.slice(0, ECHO_LINE_BYTES - 1);
    bad[i] = bad[i]! ^ 0x01;
    assert.deepEqual(
      p.check(bad, 1234),
      { kind: "wrong", why: "corrupt" },
      `byte ${i}`,
    );
  }
  assert.deepEqual(p.check(line("#12"), 0), { kind: "wrong", why: "corrupt" });
});

Deno.test("LinePayload matches replies and names nodes with --by-node", () => {
  const p = new LinePayload("line", "ping", /^pong$/, false);
  const out = new Uint8Array(10);
  assert.equal(p.encode(0, out, 0), 5);
  assert.equal(text(out.subarray(0, 5)), "ping\n");
  assert.equal(p.prompted, false);
  assert.deepEqual(p.check(line("pong\r"), 7), { kind: "ok", index: 7 });
  assert.deepEqual(p.check(line("pang"), 7), {
    kind: "wrong",
    why: "unexpected",
  });
  const byNode = tcpservdPayload(true);
  assert.equal(byNode.prompted, true);
  assert.deepEqual(byNode.check(line("hostname:[node2]"), 3), {
    kind: "ok",
    index: 3,
    node: "node2",
  });
  const status = tcpservdPayload(false);
  assert.equal(status.check(line("BAD"), 0).kind, "ok");
  assert.equal(status.check(line("Unknown command"), 0).kind, "wrong");
});
