import assert from "node:assert/strict";
import { UsageError } from "../common/mod.ts";
import {
  DEFAULT_DAEMON,
  IOTCPD_USAGE,
  iotcpdOptionsOf,
  parseIotcpdArgs,
} from "./iotcpd_cli.ts";

Deno.test("parseIotcpdArgs() gives the issue's defaults", () => {
  const cli = parseIotcpdArgs([]);
  assert.equal(DEFAULT_DAEMON, "cat");
  assert.deepEqual(cli.command, ["cat"]);
  assert.equal(cli.ipv4, "127.0.0.1");
  assert.equal(cli.ipv6, undefined);
  assert.equal(cli.port, 9991);
  assert.equal(cli.numDaemons, 4);
  assert.equal(cli.busyTimeoutSecs, 15);
  assert.equal(cli.alarmIntervalSecs, 2);
  assert.equal(cli.queueTimeoutMs, 500);
  assert.equal(cli.maxLine, 4096);
  assert.equal(cli.maxConns, 1024);
  assert.equal(cli.idleTimeoutSecs, 30);
  assert.equal(cli.keepAlive, false);
  assert.equal(cli.statsJson, undefined);
  assert.equal(cli.logFormat, "text");
});

Deno.test("parseIotcpdArgs() takes the original's short options, combined or not", () => {
  const cli = parseIotcpdArgs([
    "-d",
    "squidGuard -c 'sg/my adblock.conf'",
    "-i10.20.30.40",
    "-p",
    "1234",
    "-n8",
    "-b",
    "3",
    "-a1",
  ]);
  assert.deepEqual(cli.command, ["squidGuard", "-c", "sg/my adblock.conf"]);
  assert.equal(cli.ipv4, "10.20.30.40");
  assert.equal(cli.port, 1234);
  assert.equal(cli.numDaemons, 8);
  assert.equal(cli.busyTimeoutSecs, 3);
  assert.equal(cli.alarmIntervalSecs, 1);
});

Deno.test("parseIotcpdArgs() reads long options and converts units", () => {
  const cli = parseIotcpdArgs([
    "--daemon=exec cat",
    "--shell",
    "--ipv6",
    "[::1]",
    "--port=0",
    "--busy-timeout",
    "1.5",
    "--alarm-interval",
    "0.25",
    "--queue-timeout",
    "0",
    "--keep-alive",
    "--max-line",
    "64",
    "--max-conns",
    "0",
    "--idle-timeout",
    "0.5",
    "--stats-json",
    "/tmp/s.json",
    "--log-format",
    "json",
    "--debug",
  ]);
  assert.deepEqual(cli.command, ["/bin/sh", "-c", "exec cat"]);
  assert.equal(cli.ipv6, "::1");
  const options = iotcpdOptionsOf(cli);
  assert.equal(options.hostname, "127.0.0.1");
  assert.equal(options.hostname6, "::1");
  assert.equal(options.port, 0);
  assert.equal(options.busyTimeoutMs, 1500);
  assert.equal(options.tickMs, 250);
  assert.equal(options.queueTimeoutMs, 0);
  assert.equal(options.keepAlive, true);
  assert.equal(options.maxLine, 64);
  assert.equal(options.maxConns, 0);
  assert.equal(options.idleTimeoutMs, 500);
  assert.equal(cli.statsJson, "/tmp/s.json");
  assert.equal(cli.debug, true);
});

Deno.test("parseIotcpdArgs() -i '' leaves only the -I listener", () => {
  const cli = parseIotcpdArgs(["-i", "", "-I", "::1"]);
  assert.equal(cli.ipv4, "");
  assert.equal(iotcpdOptionsOf(cli).hostname, "");
  assert.throws(() => parseIotcpdArgs(["-i", ""]), UsageError);
});

Deno.test("parseIotcpdArgs() -v and -V print the version", () => {
  assert.equal(parseIotcpdArgs(["-v"]).version, true);
  assert.equal(parseIotcpdArgs(["-V"]).version, true);
  assert.equal(parseIotcpdArgs(["--version"]).version, true);
  assert.equal(parseIotcpdArgs(["-h"]).help, true);
});

Deno.test("parseIotcpdArgs() rejects bad values with a UsageError", () => {
  for (
    const args of [
      ["-n", "0"],
      ["-n", "1025"],
      ["-n", "2.5"],
      ["-p", "65536"],
      ["-b", "0"],
      ["-a", "0"],
      ["--queue-timeout", "-1"],
      ["--max-line", "8"],
      ["-d", "prog 'unterminated"],
      ["-d", ""],
      ["--log-format", "xml"],
      ["--stats-json", ""],
      ["-x"],
      ["--nope"],
      ["extra"],
      ["-p"],
    ]
  ) {
    assert.throws(() => parseIotcpdArgs(args), UsageError, args.join(" "));
  }
});

Deno.test("IOTCPD_USAGE documents every option and the signals", () => {
  for (
    const word of [
      "--daemon",
      "--shell",
      "--ipv4",
      "--ipv6",
      "--port",
      "--num-daemons",
      "--busy-timeout",
      "--alarm-interval",
      "--queue-timeout",
      "--keep-alive",
      "--max-line",
      "--max-conns",
      "--idle-timeout",
      "--stats-json",
      "--log-format",
      "--debug",
      "SIGUSR1",
      "SIGUSR2",
      "SIGHUP",
      "SIGTERM",
    ]
  ) {
    assert.ok(IOTCPD_USAGE.includes(word), word);
  }
  assert.match(IOTCPD_USAGE, /^USAGE:\n {2}iotcpd \[OPTIONS\]\n/);
  assert.match(IOTCPD_USAGE, /\nOPTIONS:\n/);
});

Deno.test("parseIotcpdArgs() reads --metrics HOST:PORT and refuses a bad one", () => {
  assert.equal(parseIotcpdArgs([]).metrics, undefined);
  assert.deepEqual(parseIotcpdArgs(["--metrics", "127.0.0.1:0"]).metrics, {
    hostname: "127.0.0.1",
    port: 0,
  });
  assert.ok(IOTCPD_USAGE.includes("--metrics HOST:PORT"));
  for (const bad of ["9100", "[::1]", "127.0.0.1:x"]) {
    assert.throws(
      () => parseIotcpdArgs(["--metrics", bad]),
      (e) =>
        e instanceof UsageError &&
        /Invalid value for --metrics/.test(e.message),
      bad,
    );
  }
});
