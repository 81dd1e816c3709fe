import assert from "node:assert/strict";
import { UsageError } from "../common/mod.ts";
import { DEFAULT_BACKLOG, parseServerArgs } from "./server_cli.ts";

Deno.test("parseServerArgs() takes the original's short flags", () => {
  const cli = parseServerArgs([
    "-a",
    "127.0.0.1",
    "-p1234",
    "-b",
    "10",
    "-t",
    "/tmp/.takeover",
  ]);
  assert.equal(cli.address, "127.0.0.1");
  assert.equal(cli.port, 1234);
  assert.equal(cli.backlog, 10);
  assert.equal(cli.offerPath, "/tmp/.takeover");
  assert.equal(cli.takeoverFrom, undefined);
  assert.equal(cli.handoverTimeoutMs, 5000);
});

Deno.test("parseServerArgs() -T offers the same path in turn unless -t says otherwise", () => {
  const chained = parseServerArgs(["-T", "/tmp/a"]);
  assert.equal(chained.takeoverFrom, "/tmp/a");
  assert.equal(chained.offerPath, "/tmp/a");
  assert.equal(chained.backlog, DEFAULT_BACKLOG);
  const moved = parseServerArgs([
    "--takeover=/tmp/a",
    "--takeover-path",
    "/tmp/b",
  ]);
  assert.equal(moved.offerPath, "/tmp/b");
});

Deno.test("parseServerArgs() long options, --handover-timeout and --log-seqnums", () => {
  const cli = parseServerArgs([
    "--listen-address",
    "[::1]",
    "--listen-port=0",
    "--listen-backlog",
    "64",
    "--handover-timeout",
    "250",
    "--log-seqnums",
    "--log-format",
    "json",
  ]);
  assert.equal(cli.address, "::1");
  assert.equal(cli.port, 0);
  assert.equal(cli.handoverTimeoutMs, 250);
  assert.equal(cli.logSeqnums, true);
  assert.equal(cli.debug, true);
  assert.equal(cli.logFormat, "json");
});

Deno.test("parseServerArgs() rejects incomplete or contradictory command lines", () => {
  for (
    const args of [
      [],
      ["-a", "127.0.0.1"],
      ["-p", "1"],
      ["-T", "/tmp/a", "-a", "127.0.0.1"],
      ["-T", "/tmp/a", "-b", "5"],
      ["-a", "127.0.0.1", "-p", "70000"],
      ["-a", "127.0.0.1", "-p", "1", "-b", "0"],
      ["-a", "127.0.0.1", "-p", "1", "--handover-timeout", "0"],
      ["-a", "127.0.0.1", "-p", "1", "-t", "/" + "x".repeat(100)],
      ["-a", "127.0.0.1", "-p", "1", "-x"],
      ["-a", "127.0.0.1", "-p", "1", "extra"],
      ["-a", "127.0.0.1", "-p", "1", "--log-format", "xml"],
    ]
  ) {
    assert.throws(() => parseServerArgs(args), UsageError, args.join(" "));
  }
});

Deno.test("parseServerArgs() lets -h and -V through without -a and -p", () => {
  assert.equal(parseServerArgs(["-h"]).help, true);
  assert.equal(parseServerArgs(["-V"]).version, true);
});

Deno.test("parseServerArgs() --max-conns: a positive integer, no limit by default", () => {
  assert.equal(parseServerArgs(["-a", "::1", "-p", "0"]).maxConns, undefined);
  assert.equal(
    parseServerArgs(["-a", "::1", "-p", "0", "--max-conns", "50"]).maxConns,
    50,
  );
  for (const bad of ["0", "-1", "1.5", "x"]) {
    assert.throws(
      () => parseServerArgs(["-a", "::1", "-p", "0", "--max-conns", bad]),
      UsageError,
    );
  }
});

Deno.test("parseServerArgs() reads --metrics HOST:PORT and refuses a bad one", () => {
  assert.equal(parseServerArgs(["-a", "::1", "-p", "0"]).metrics, undefined);
  assert.deepEqual(
    parseServerArgs(["-T", "/tmp/t.sock", "--metrics", "[::1]:0"]).metrics,
    { hostname: "::1", port: 0 },
  );
  for (const bad of ["0", "::1:9100", "127.0.0.1:-1"]) {
    assert.throws(
      () => parseServerArgs(["-a", "::1", "-p", "0", "--metrics", bad]),
      (e) =>
        e instanceof UsageError &&
        /Invalid value for --metrics/.test(e.message),
      bad,
    );
  }
});
