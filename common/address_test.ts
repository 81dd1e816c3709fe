import assert from "node:assert/strict";
import { formatAddr, formatHostPort, parseHost, parsePort } from "./address.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parsePort() accepts 0", () => {
  assert.equal(parsePort("0"), 0);
});

Deno.test("parsePort() accepts 65535", () => {
  assert.equal(parsePort("65535"), 65535);
});

Deno.test("parsePort() accepts an ordinary port", () => {
  assert.equal(parsePort("1971"), 1971);
});

Deno.test("parsePort() throws UsageError for 65536", () => {
  assert.throws(() => parsePort("65536"), {
    name: "UsageError",
    message: /65536.*out of range/,
  });
});

Deno.test("parsePort() throws UsageError for -1", () => {
  assert.throws(() => parsePort("-1"), UsageError);
});

Deno.test("parsePort() throws UsageError for text that is not a number", () => {
  assert.throws(() => parsePort("abc"), {
    name: "UsageError",
    message: /"abc"/,
  });
});

Deno.test("parsePort() throws UsageError for an empty string", () => {
  assert.throws(() => parsePort(""), UsageError);
});

Deno.test("parsePort() throws UsageError for fractions, exponents and hex", () => {
  for (const text of ["1.5", "1e3", "0x10", "80a"]) {
    assert.throws(() => parsePort(text), UsageError, text);
  }
});

Deno.test("parsePort() names the option in its message", () => {
  assert.throws(() => parsePort("nope", "PORT"), { message: /^Invalid PORT:/ });
});

Deno.test("parseHost() removes the brackets of an IPv6 literal", () => {
  assert.equal(parseHost("[::1]"), "::1");
});

Deno.test("parseHost() keeps an IPv4 address, a bare IPv6 literal and a hostname", () => {
  assert.equal(parseHost("127.0.0.1"), "127.0.0.1");
  assert.equal(parseHost("::1"), "::1");
  assert.equal(parseHost("node1.example"), "node1.example");
});

Deno.test("parseHost() throws UsageError for an empty host", () => {
  assert.throws(() => parseHost(""), UsageError);
});

Deno.test("parseHost() throws UsageError for empty brackets", () => {
  assert.throws(() => parseHost("[]"), UsageError);
});

Deno.test("parseHost() throws UsageError for a host with a blank inside", () => {
  assert.throws(() => parseHost("a b"), {
    name: "UsageError",
    message: /"a b"/,
  });
});

Deno.test("formatHostPort() writes IPv4 as host:port", () => {
  assert.equal(formatHostPort("127.0.0.1", 1971), "127.0.0.1:1971");
});

Deno.test("formatHostPort() puts an IPv6 literal in brackets", () => {
  assert.equal(formatHostPort("::1", 1971), "[::1]:1971");
  assert.equal(formatHostPort("fe80::1%eth0", 80), "[fe80::1%eth0]:80");
});

Deno.test("formatHostPort() writes a hostname as host:port", () => {
  assert.equal(formatHostPort("node1.example", 0), "node1.example:0");
});

Deno.test("formatAddr() formats a TCP address", () => {
  const v4: Deno.NetAddr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 1971,
  };
  const v6: Deno.NetAddr = { transport: "tcp", hostname: "::", port: 80 };
  assert.equal(formatAddr(v4), "127.0.0.1:1971");
  assert.equal(formatAddr(v6), "[::]:80");
});

Deno.test("formatAddr() formats a Unix address as its path", () => {
  const addr: Deno.UnixAddr = { transport: "unix", path: "/tmp/tcpservd.sock" };
  assert.equal(formatAddr(addr), "/tmp/tcpservd.sock");
});

Deno.test("formatAddr() names an unnamed Unix address", () => {
  const addr: Deno.UnixAddr = { transport: "unix", path: "" };
  assert.equal(formatAddr(addr), "(unnamed)");
});

Deno.test("formatAddr() formats the address of a real listener", () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.equal(formatAddr(listener.addr), `127.0.0.1:${listener.addr.port}`);
});
