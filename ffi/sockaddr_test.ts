import assert from "node:assert/strict";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM } from "./constants.ts";
import { check, ENOTSOCK, errno } from "./errno.ts";
import { socketFdOf } from "./find_fd.ts";
import { libc } from "./libc.ts";
import {
  decodeSockaddr,
  encodeSockaddr,
  formatIp,
  fromNetAddr,
  getPeerName,
  getSockName,
  normalizeAddress,
  parseIp,
  sameAddress,
  type SocketAddress,
} from "./sockaddr.ts";

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function v6(...groups: number[]): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  groups.forEach((group, i) => view.setUint16(i * 2, group));
  return out;
}

Deno.test("parseIp() parses IPv4 dotted quads", () => {
  assert.deepEqual(parseIp("127.0.0.1"), bytes(127, 0, 0, 1));
  assert.deepEqual(parseIp("0.0.0.0"), bytes(0, 0, 0, 0));
  assert.deepEqual(parseIp("255.255.255.255"), bytes(255, 255, 255, 255));
});

Deno.test("parseIp() parses IPv6 with ::, brackets, zones and an IPv4 tail", () => {
  assert.deepEqual(parseIp("::"), new Uint8Array(16));
  assert.deepEqual(parseIp("::1"), v6(0, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(parseIp("[::1]"), v6(0, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(parseIp("1::"), v6(1, 0, 0, 0, 0, 0, 0, 0));
  assert.deepEqual(
    parseIp("2001:DB8::a:1"),
    v6(0x2001, 0xdb8, 0, 0, 0, 0, 0xa, 1),
  );
  assert.deepEqual(parseIp("1:2:3:4:5:6:7:8"), v6(1, 2, 3, 4, 5, 6, 7, 8));
  assert.deepEqual(parseIp("1:2:3::5:6:7:8"), v6(1, 2, 3, 0, 5, 6, 7, 8));
  assert.deepEqual(parseIp("fe80::1%eth0"), v6(0xfe80, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(parseIp("[fe80::1%2]"), v6(0xfe80, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(
    parseIp("::ffff:127.0.0.1"),
    v6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1),
  );
  assert.deepEqual(
    parseIp("0:0:0:0:0:ffff:1.2.3.4"),
    v6(0, 0, 0, 0, 0, 0xffff, 0x102, 0x304),
  );
});

Deno.test("parseIp() throws TypeError for anything else", () => {
  const invalid = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.-4",
    " 1.2.3.4",
    "[1.2.3.4]",
    "1.2.3.4%eth0",
    "localhost",
    ":::",
    "1::2::3",
    ":1::",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2:3:4:5:6:7:8",
    "12345::",
    "g::1",
    "::1%",
    "[::1",
    "1.2.3.4::",
    "::1.2.3",
  ];
  for (const text of invalid) {
    assert.throws(() => parseIp(text), TypeError, JSON.stringify(text));
  }
  assert.throws(() => parseIp("nope"), {
    name: "TypeError",
    message: 'Cannot parse IP address: "nope"',
  });
});

Deno.test("formatIp() writes RFC 5952 text and IPv4-mapped as dotted", () => {
  assert.equal(formatIp(bytes(10, 0, 0, 255)), "10.0.0.255");
  assert.equal(formatIp(new Uint8Array(16)), "::");
  assert.equal(formatIp(v6(0, 0, 0, 0, 0, 0, 0, 1)), "::1");
  assert.equal(formatIp(v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), "2001:db8::1");
  assert.equal(formatIp(v6(1, 0, 1, 0, 1, 0, 1, 0)), "1:0:1:0:1:0:1:0");
  assert.equal(formatIp(v6(1, 0, 0, 1, 0, 0, 1, 1)), "1::1:0:0:1:1");
  assert.equal(formatIp(v6(1, 0, 0, 1, 0, 0, 0, 1)), "1:0:0:1::1");
  assert.equal(formatIp(v6(1, 2, 3, 4, 5, 6, 7, 0)), "1:2:3:4:5:6:7:0");
  assert.equal(formatIp(parseIp("::ffff:127.0.0.1")), "::ffff:127.0.0.1");
  assert.throws(() => formatIp(new Uint8Array(5)), TypeError);
});

Deno.test("formatIp() and parseIp() round-trip", () => {
  for (
    const text of [
      "1.2.3.4",
      "::",
      "::1",
      "fe80::1",
      "2001:db8:0:1:1:1:1:1",
      "::ffff:10.1.2.3",
    ]
  ) {
    assert.equal(formatIp(parseIp(text)), text);
  }
});

Deno.test("encodeSockaddr() writes sockaddr_in with the port in network order", () => {
  const encoded = encodeSockaddr({
    family: "ipv4",
    address: parseIp("127.0.0.1"),
    port: 80,
  });
  assert.deepEqual(
    encoded,
    bytes(2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
  );
  assert.equal(encoded.byteOffset, 0);
  assert.equal(encoded.buffer.byteLength, 16);
});

Deno.test("encodeSockaddr() writes sockaddr_in6", () => {
  const encoded = encodeSockaddr({
    family: "ipv6",
    address: parseIp("::1"),
    port: 0x1234,
  });
  assert.equal(encoded.length, 28);
  assert.deepEqual(
    encoded.subarray(0, 8),
    bytes(10, 0, 0x12, 0x34, 0, 0, 0, 0),
  );
  assert.deepEqual(encoded.subarray(8, 24), parseIp("::1"));
  assert.deepEqual(encoded.subarray(24), bytes(0, 0, 0, 0));
});

Deno.test("encodeSockaddr() rejects a bad port or a family/length mismatch", () => {
  const address = parseIp("1.2.3.4");
  assert.throws(
    () => encodeSockaddr({ family: "ipv4", address, port: 65536 }),
    RangeError,
  );
  assert.throws(
    () => encodeSockaddr({ family: "ipv4", address, port: -1 }),
    RangeError,
  );
  assert.throws(
    () => encodeSockaddr({ family: "ipv4", address, port: 1.5 }),
    RangeError,
  );
  assert.throws(
    () => encodeSockaddr({ family: "ipv6", address, port: 1 }),
    TypeError,
  );
});

Deno.test("decodeSockaddr() reverses encodeSockaddr()", () => {
  const cases: SocketAddress[] = [
    { family: "ipv4", address: parseIp("192.168.1.20"), port: 65535 },
    { family: "ipv6", address: parseIp("2001:db8::7"), port: 443 },
  ];
  for (const address of cases) {
    assert.deepEqual(decodeSockaddr(encodeSockaddr(address)), address);
  }
});

Deno.test("decodeSockaddr() returns null for other families and throws on short input", () => {
  const unix = new Uint8Array(110);
  new DataView(unix.buffer).setUint16(0, AF_UNIX, true);
  assert.equal(decodeSockaddr(unix), null);
  assert.equal(decodeSockaddr(new Uint8Array(1)), null);
  const v4 = encodeSockaddr({
    family: "ipv4",
    address: parseIp("1.2.3.4"),
    port: 1,
  });
  assert.throws(() => decodeSockaddr(v4, 8), RangeError);
});

Deno.test("normalizeAddress() maps ::ffff:a.b.c.d to IPv4 and keeps others", () => {
  const mapped: SocketAddress = {
    family: "ipv6",
    address: parseIp("::ffff:127.0.0.1"),
    port: 9,
  };
  assert.deepEqual(normalizeAddress(mapped), {
    family: "ipv4",
    address: parseIp("127.0.0.1"),
    port: 9,
  });
  const plain: SocketAddress = {
    family: "ipv6",
    address: parseIp("::1"),
    port: 9,
  };
  assert.equal(normalizeAddress(plain), plain);
  const compatible: SocketAddress = {
    family: "ipv6",
    address: parseIp("::127.0.0.1"),
    port: 9,
  };
  assert.equal(normalizeAddress(compatible), compatible);
});

Deno.test("sameAddress() compares normalised bytes and ports", () => {
  const v4: SocketAddress = {
    family: "ipv4",
    address: parseIp("127.0.0.1"),
    port: 80,
  };
  const mapped: SocketAddress = {
    family: "ipv6",
    address: parseIp("::ffff:127.0.0.1"),
    port: 80,
  };
  assert.ok(sameAddress(v4, mapped));
  assert.ok(sameAddress(mapped, v4));
  assert.ok(!sameAddress(v4, { ...v4, port: 81 }));
  assert.ok(!sameAddress(v4, { ...v4, address: parseIp("127.0.0.2") }));
  assert.ok(
    !sameAddress(v4, { family: "ipv6", address: parseIp("::1"), port: 80 }),
  );
});

Deno.test("fromNetAddr() converts Deno addresses, IPv4-mapped included", () => {
  assert.deepEqual(
    fromNetAddr({ transport: "tcp", hostname: "::ffff:127.0.0.1", port: 5 }),
    {
      family: "ipv6",
      address: parseIp("::ffff:127.0.0.1"),
      port: 5,
    },
  );
  assert.deepEqual(
    fromNetAddr({ transport: "tcp", hostname: "10.0.0.1", port: 6 }),
    {
      family: "ipv4",
      address: bytes(10, 0, 0, 1),
      port: 6,
    },
  );
  assert.throws(
    () => fromNetAddr({ transport: "tcp", hostname: "localhost", port: 1 }),
    TypeError,
  );
});

Deno.test("getSockName() and getPeerName() read a Deno connection's addresses", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  using _server = await accepted;
  const fd = socketFdOf(client);
  const local = getSockName(fd);
  const peer = getPeerName(fd);
  assert.ok(local !== null && peer !== null);
  assert.ok(sameAddress(local, fromNetAddr(client.localAddr)));
  assert.ok(sameAddress(peer, fromNetAddr(client.remoteAddr)));
  const listenerFd = socketFdOf(listener);
  assert.ok(
    sameAddress(getSockName(listenerFd) ?? local, fromNetAddr(listener.addr)),
  );
  assert.equal(getPeerName(listenerFd), null);
});

Deno.test("getSockName() returns null for closed fds, non-sockets and Unix sockets", () => {
  const fd = check(
    libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    assert.equal(getSockName(fd), null);
    assert.equal(getPeerName(fd), null);
  } finally {
    libc().close(fd);
  }
  assert.equal(getSockName(fd), null);
  assert.equal(getPeerName(fd), null);
  // A file we open guarantees at least one fd that is not a socket.
  using _file = Deno.openSync(new URL(import.meta.url).pathname);
  const scratch = new Uint8Array(128);
  const length = new Uint32Array(1);
  let nonSocket = -1;
  for (let candidate = 0; candidate < 1 << 16 && nonSocket < 0; candidate++) {
    length[0] = scratch.byteLength;
    if (
      libc().getsockname(candidate, scratch, length) < 0 && errno() === ENOTSOCK
    ) {
      nonSocket = candidate;
    }
  }
  assert.ok(nonSocket >= 0);
  assert.equal(getSockName(nonSocket), null);
  assert.equal(getPeerName(nonSocket), null);
});

Deno.test("getSockName() validates the fd", () => {
  assert.throws(() => getSockName(-1), RangeError);
  assert.throws(() => getPeerName(1.5), TypeError);
});
