import assert from "node:assert/strict";
import { UsageError } from "../common/usage_error.ts";
import { MAX_CONNS, parseSoakArgs, SOAK_USAGE } from "./soak_cli.ts";

Deno.test("parseSoakArgs() returns the defaults for HOST PORT", () => {
  const cli = parseSoakArgs(["node1", "1971"]);
  assert.equal(cli.hostname, "node1");
  assert.equal(cli.port, 1971);
  assert.equal(cli.conns, 10);
  assert.equal(cli.rate, 100);
  assert.equal(cli.connectRate, 0);
  assert.equal(cli.perConn, 0);
  assert.equal(cli.durationMs, 10000);
  assert.equal(cli.count, undefined);
  assert.equal(cli.timeoutMs, 2000);
  assert.equal(cli.mode, "auto");
  assert.equal(cli.byNode, false);
  assert.equal(cli.during, undefined);
  assert.equal(cli.atMs, 3333);
});

Deno.test("parseSoakArgs() reads every option", () => {
  const cli = parseSoakArgs([
    "-c",
    "50",
    "-r",
    "2000.5",
    "--connect-rate",
    "10",
    "--per-conn",
    "1",
    "-d",
    "20",
    "-t",
    "500",
    "-m",
    "tcpservd",
    "--by-node",
    "--during",
    "sleep 1",
    "--at",
    "5",
    "--json",
    "-",
    "--timeline-json",
    "t.json",
    "--report",
    "r.html",
    "-q",
    "[::1]",
    "80",
  ]);
  assert.equal(cli.hostname, "::1");
  assert.equal(cli.conns, 50);
  assert.equal(cli.rate, 2000.5);
  assert.equal(cli.connectRate, 10);
  assert.equal(cli.perConn, 1);
  assert.equal(cli.durationMs, 20000);
  assert.equal(cli.timeoutMs, 500);
  assert.equal(cli.mode, "tcpservd");
  assert.equal(cli.byNode, true);
  assert.equal(cli.during, "sleep 1");
  assert.equal(cli.atMs, 5000);
  assert.equal(cli.json, "-");
  assert.equal(cli.timelineJson, "t.json");
  assert.equal(cli.report, "r.html");
  assert.equal(cli.quiet, true);
});

Deno.test("parseSoakArgs() --count sets the length from the rate", () => {
  const cli = parseSoakArgs(["-n", "300", "-r", "1000", "h", "1"]);
  assert.equal(cli.count, 300);
  assert.equal(cli.durationMs, 300);
});

Deno.test("parseSoakArgs() --send alone means line mode and needs --expect", () => {
  assert.throws(() => parseSoakArgs(["--send", "ping", "h", "1"]), {
    name: "UsageError",
    message: "Line mode needs --send LINE and --expect REGEX",
  });
  const cli = parseSoakArgs(["--send", "ping", "--expect", "^pong$", "h", "1"]);
  assert.equal(cli.mode, "line");
  assert.equal(cli.send, "ping");
  assert.ok(cli.expect?.test("pong"));
});

Deno.test("parseSoakArgs() rejects each bad value with a UsageError", () => {
  const bad: [string[], RegExp][] = [
    [[], /Missing HOST/],
    [["h"], /Missing PORT/],
    [["h", "1", "x"], /Unexpected argument: x/],
    [["-c", "0", "h", "1"], /--conns: 0 is out of range/],
    [["-c", String(MAX_CONNS + 1), "h", "1"], /--conns/],
    [["-r", "0", "h", "1"], /--rate/],
    [["-r", "fast", "h", "1"], /--rate: expected a number/],
    [["-d", "3601", "h", "1"], /--duration/],
    [["-n", "10", "-d", "1", "h", "1"], /cannot be combined/],
    [["-n", "100000000", "-r", "1", "h", "1"], /longer than 3600 s/],
    [["-r", "1000000", "-d", "3600", "h", "1"], /more than 100000000 messages/],
    [["-t", "0", "h", "1"], /--timeout/],
    [["-m", "http", "h", "1"], /--mode: "http"/],
    [["--send", "a\nb", "--expect", "x", "h", "1"], /no newline/],
    [["--send", "a", "--expect", "(", "h", "1"], /--expect/],
    [["-m", "echo", "--send", "a", "--expect", "a", "h", "1"], /do not apply/],
    [["-m", "tcpservd", "--send", "a", "h", "1"], /both --send and --expect/],
    [["-m", "echo", "--by-node", "h", "1"], /--by-node needs/],
    [["--during", " ", "h", "1"], /--during/],
    [["--at", "1", "h", "1"], /--at needs --during/],
    [["--during", "true", "--at", "11", "h", "1"], /--at: 11 is out of range/],
    [["--json", "", "h", "1"], /--json/],
    [["--connect-rate", "-1", "h", "1"], /--connect-rate/],
    [["--per-conn", "1.5", "h", "1"], /--per-conn/],
    [["--bogus", "h", "1"], /Unknown option '--bogus'/],
    [["h", "70000"], /port/i],
  ];
  for (const [args, message] of bad) {
    assert.throws(() => parseSoakArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, message, args.join(" "));
      return true;
    });
  }
});

Deno.test("SOAK_USAGE names every option and the exit codes", () => {
  for (
    const flag of [
      "--conns",
      "--rate",
      "--connect-rate",
      "--per-conn",
      "--duration",
      "--count",
      "--timeout",
      "--mode",
      "--send",
      "--expect",
      "--by-node",
      "--during",
      "--at",
      "--json",
      "--timeline-json",
      "--report",
      "--quiet",
    ]
  ) assert.ok(SOAK_USAGE.includes(flag), flag);
  assert.match(
    SOAK_USAGE,
    /exits 0 when\s+nothing failed, 1 when anything\s+did/,
  );
});
