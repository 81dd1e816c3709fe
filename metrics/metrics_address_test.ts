import assert from "node:assert/strict";
import { UsageError } from "../common/mod.ts";
import { parseMetricsAddress } from "./metrics_address.ts";

Deno.test("parseMetricsAddress() takes HOST:PORT and bracketed IPv6", () => {
  assert.deepEqual(parseMetricsAddress("127.0.0.1:9100"), {
    hostname: "127.0.0.1",
    port: 9100,
  });
  assert.deepEqual(parseMetricsAddress("[::1]:0"), {
    hostname: "::1",
    port: 0,
  });
  assert.deepEqual(parseMetricsAddress("localhost:80"), {
    hostname: "localhost",
    port: 80,
  });
});

Deno.test("parseMetricsAddress() refuses what is not HOST:PORT, with a clear message", () => {
  for (
    const bad of [
      "9100",
      ":9100",
      "127.0.0.1:",
      "::1:9100",
      "h:x",
      "h:70000",
      "a b:1",
    ]
  ) {
    assert.throws(
      () => parseMetricsAddress(bad),
      (e) =>
        e instanceof UsageError &&
        e.message.startsWith("Invalid value for --metrics"),
      bad,
    );
  }
});
