import assert from "node:assert/strict";
import { UsageError } from "../common/mod.ts";
import { formatReport, parseClientArgs } from "./client_cli.ts";

Deno.test("parseClientArgs() takes -a, -p and the load shape", () => {
  const cli = parseClientArgs([
    "-a",
    "127.0.0.1",
    "-p",
    "1234",
    "--interval",
    "10",
    "--count",
    "50",
    "--conns",
    "1000",
    "--new-conn-interval",
    "20",
    "--timeout",
    "30000",
    "--report",
    "500",
    "--duration",
    "1.5",
    "--format",
    "json",
  ]);
  assert.deepEqual(cli, {
    help: false,
    version: false,
    address: "127.0.0.1",
    port: 1234,
    intervalMs: 10,
    count: 50,
    conns: 1000,
    newConnIntervalMs: 20,
    durationSecs: 1.5,
    timeoutMs: 30000,
    reportMs: 500,
    format: "json",
  });
});

Deno.test("parseClientArgs() defaults: one connection, every 100 ms, until stopped", () => {
  const cli = parseClientArgs(["--connect-address=::1", "--connect-port=1"]);
  assert.equal(cli.address, "::1");
  assert.equal(cli.conns, 1);
  assert.equal(cli.intervalMs, 100);
  assert.equal(cli.count, 0);
  assert.equal(cli.newConnIntervalMs, 0);
  assert.equal(cli.format, "text");
});

Deno.test("parseClientArgs() rejects bad command lines", () => {
  for (
    const args of [
      [],
      ["-a", "127.0.0.1"],
      ["-a", "127.0.0.1", "-p", "1", "--conns", "0"],
      ["-a", "127.0.0.1", "-p", "1", "--interval", "-5"],
      ["-a", "127.0.0.1", "-p", "1", "--format", "xml"],
      ["-a", "127.0.0.1", "-p", "1", "--bogus"],
    ]
  ) {
    assert.throws(() => parseClientArgs(args), UsageError, args.join(" "));
  }
});

Deno.test("formatReport() gives the summary line and the JSON object", () => {
  const report = {
    conns: 2,
    sent: 10,
    received: 10,
    maxRttMs: 3.456,
    p99RttMs: 2,
    p50RttMs: 0.5,
    newConns: 4,
    newConnsFailed: 0,
    maxNewConnMs: 1,
    elapsedMs: 100,
    failure: undefined,
  };
  assert.equal(
    formatReport(report, "text"),
    "sent 10 received 10 on 2 connections; round trip max 3.46 ms, p99 2.00 ms, median 0.50 ms; new connections 4 (0 failed)\n",
  );
  const json = JSON.parse(formatReport({ ...report, failure: "x" }, "json"));
  assert.equal(json.ok, false);
  assert.equal(json.failure, "x");
  assert.equal(json.sent, 10);
});
