import assert from "node:assert/strict";
import {
  cidrContains,
  CidrError,
  LOOPBACK,
  parseCidr,
  parseCidrList,
  parseIp,
} from "./cidr.ts";

Deno.test("parseIp() maps IPv4 into the IPv6 space and reads every IPv6 form", () => {
  assert.equal(parseIp("127.0.0.1"), parseIp("::ffff:127.0.0.1"));
  assert.equal(parseIp("::ffff:7f00:1"), parseIp("127.0.0.1"));
  assert.equal(parseIp("::1"), 1n);
  assert.equal(parseIp("[::1]"), 1n);
  assert.equal(parseIp("fe80::1%eth0"), (0xfe80n << 112n) | 1n);
  assert.equal(parseIp("1:2:3:4:5:6:7:8"), 0x00010002000300040005000600070008n);
  assert.equal(parseIp("::"), 0n);
  for (
    const bad of [
      "",
      "localhost",
      "1.2.3",
      "1.2.3.256",
      "1.2.3.4.5",
      "01234::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7::8",
      "::g",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("cidrContains() matches prefixes in both families, and mapped IPv4", () => {
  const lan = parseCidr("192.0.2.0/24");
  assert.ok(cidrContains(lan, "192.0.2.255"));
  assert.ok(cidrContains(lan, "::ffff:192.0.2.1"));
  assert.ok(!cidrContains(lan, "192.0.3.0"));
  assert.ok(!cidrContains(lan, "not an address"));
  const v6 = parseCidr("2001:db8::/32");
  assert.ok(cidrContains(v6, "2001:db8:ffff::1"));
  assert.ok(!cidrContains(v6, "2001:db9::1"));
  assert.ok(cidrContains(parseCidr("0.0.0.0/0"), "203.0.113.9"));
  assert.ok(!cidrContains(parseCidr("0.0.0.0/0"), "2001:db8::1"));
  assert.ok(cidrContains(parseCidr("::/0"), "2001:db8::1"));
  assert.ok(cidrContains(parseCidr("10.1.2.3"), "10.1.2.3"));
  assert.ok(!cidrContains(parseCidr("10.1.2.3"), "10.1.2.4"));
  // Host bits in the range are ignored, as `ip route` does.
  assert.ok(cidrContains(parseCidr("10.1.2.3/8"), "10.200.0.1"));
});

Deno.test("LOOPBACK covers 127/8 and ::1 only", () => {
  const inLoopback = (a: string) => LOOPBACK.some((r) => cidrContains(r, a));
  assert.ok(inLoopback("127.0.0.1"));
  assert.ok(inLoopback("127.255.0.9"));
  assert.ok(inLoopback("::ffff:127.0.0.1"));
  assert.ok(inLoopback("::1"));
  assert.ok(!inLoopback("128.0.0.1"));
  assert.ok(!inLoopback("::2"));
  assert.ok(!inLoopback("0.0.0.0"));
});

Deno.test("parseCidr() and parseCidrList() reject what is not a range, naming it", () => {
  for (
    const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8/8", "x/8"]
  ) {
    assert.throws(() => parseCidr(bad), CidrError, bad);
  }
  assert.throws(() => parseCidrList("127.0.0.0/8,,::1"), /empty item/);
  assert.deepEqual(
    parseCidrList("127.0.0.0/8, ::1").map((c) => c.text),
    ["127.0.0.0/8", "::1"],
  );
});
