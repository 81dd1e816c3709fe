import assert from "node:assert/strict";
import { UsageError } from "../common/usage_error.ts";
import { parseTcpcliArgs, TCPCLI_USAGE } from "./tcpcli_cli.ts";

Deno.test("parseTcpcliArgs() returns the defaults for a host alone", () => {
  assert.deepEqual(parseTcpcliArgs(["node1"]), {
    help: false,
    version: false,
    debug: false,
    hostname: "node1",
    port: undefined,
    service: undefined,
    timeoutMs: undefined,
    failureCode: undefined,
    commands: [],
    interactive: false,
    format: "text",
    quiet: false,
  });
});

Deno.test("parseTcpcliArgs() reads HOST and PORT", () => {
  const cli = parseTcpcliArgs(["127.0.0.1", "1971"]);
  assert.equal(cli.hostname, "127.0.0.1");
  assert.equal(cli.port, 1971);
});

Deno.test("parseTcpcliArgs() removes the brackets of an IPv6 host", () => {
  assert.equal(parseTcpcliArgs(["[::1]", "1971"]).hostname, "::1");
});

Deno.test("parseTcpcliArgs() throws UsageError for a missing HOST", () => {
  assert.throws(() => parseTcpcliArgs([]), {
    name: "UsageError",
    message: "Missing HOST",
  });
  assert.throws(() => parseTcpcliArgs(["-d"]), UsageError);
});

Deno.test("parseTcpcliArgs() accepts --help without HOST", () => {
  const cli = parseTcpcliArgs(["--help"]);
  assert.equal(cli.help, true);
  assert.equal(cli.hostname, "");
});

Deno.test("parseTcpcliArgs() accepts --version without HOST", () => {
  assert.equal(parseTcpcliArgs(["-V"]).version, true);
});

Deno.test("parseTcpcliArgs() throws UsageError for a third positional argument", () => {
  assert.throws(() => parseTcpcliArgs(["node1", "1971", "extra"]), {
    name: "UsageError",
    message: "Unexpected argument: extra",
  });
});

Deno.test("parseTcpcliArgs() throws UsageError for a bad PORT", () => {
  assert.throws(() => parseTcpcliArgs(["node1", "70000"]), UsageError);
  assert.throws(() => parseTcpcliArgs(["node1", "http"]), UsageError);
});

Deno.test("parseTcpcliArgs() throws UsageError for a bad HOST", () => {
  assert.throws(() => parseTcpcliArgs(["a b"]), UsageError);
  assert.throws(() => parseTcpcliArgs([""]), UsageError);
});

Deno.test("parseTcpcliArgs() collects repeated -c in order", () => {
  const cli = parseTcpcliArgs([
    "-c",
    "setbad",
    "-c",
    "getstatus",
    "--command",
    "version",
    "node1",
  ]);
  assert.deepEqual(cli.commands, ["setbad", "getstatus", "version"]);
});

Deno.test("parseTcpcliArgs() throws UsageError for -c with a newline", () => {
  assert.throws(() => parseTcpcliArgs(["-c", "setbad\ngetstatus", "node1"]), {
    name: "UsageError",
    message: /--command/,
  });
  assert.throws(() => parseTcpcliArgs(["-c", "quit\r", "node1"]), UsageError);
  assert.throws(() => parseTcpcliArgs(["-c", "quit\0", "node1"]), UsageError);
});

Deno.test("parseTcpcliArgs() throws UsageError for -i with -c", () => {
  assert.throws(() => parseTcpcliArgs(["-i", "-c", "getstatus", "node1"]), {
    name: "UsageError",
    message: /--interactive/,
  });
});

Deno.test("parseTcpcliArgs() accepts -i alone", () => {
  assert.equal(parseTcpcliArgs(["-i", "node1"]).interactive, true);
});

Deno.test("parseTcpcliArgs() reads --format nagios", () => {
  assert.equal(
    parseTcpcliArgs(["--format", "nagios", "node1"]).format,
    "nagios",
  );
  assert.equal(parseTcpcliArgs(["--format", "json", "node1"]).format, "json");
});

Deno.test("parseTcpcliArgs() throws UsageError for an unknown format", () => {
  assert.throws(() => parseTcpcliArgs(["--format", "xml", "node1"]), {
    name: "UsageError",
    message: /--format.*xml/,
  });
});

Deno.test("parseTcpcliArgs() reads -r 7 as the failure code", () => {
  assert.equal(parseTcpcliArgs(["-r", "7", "node1"]).failureCode, 7);
  assert.equal(
    parseTcpcliArgs(["--failure-code", "0", "node1"]).failureCode,
    0,
  );
});

Deno.test("parseTcpcliArgs() throws UsageError for a failure code out of 0 to 255", () => {
  assert.throws(() => parseTcpcliArgs(["-r", "256", "node1"]), UsageError);
  assert.throws(() => parseTcpcliArgs(["-r", "-1", "node1"]), UsageError);
});

Deno.test("parseTcpcliArgs() reads -t 0.5 as 500 ms", () => {
  assert.equal(parseTcpcliArgs(["-t", "0.5", "node1"]).timeoutMs, 500);
  assert.equal(parseTcpcliArgs(["--timeout", "2", "node1"]).timeoutMs, 2000);
});

Deno.test("parseTcpcliArgs() throws UsageError for a zero or garbage timeout", () => {
  assert.throws(() => parseTcpcliArgs(["-t", "0", "node1"]), {
    name: "UsageError",
    message: /--timeout/,
  });
  assert.throws(() => parseTcpcliArgs(["-t", "soon", "node1"]), UsageError);
});

Deno.test("parseTcpcliArgs() combines short boolean flags", () => {
  const cli = parseTcpcliArgs(["-dq", "node1"]);
  assert.equal(cli.debug, true);
  assert.equal(cli.quiet, true);
});

Deno.test("parseTcpcliArgs() reads the service name", () => {
  assert.equal(
    parseTcpcliArgs(["-s", "tcpservd2", "node1"]).service,
    "tcpservd2",
  );
  assert.throws(() => parseTcpcliArgs(["-s", "", "node1"]), UsageError);
});

Deno.test("parseTcpcliArgs() throws a one-line UsageError for the unknown flag -x", () => {
  assert.throws(() => parseTcpcliArgs(["-x", "node1"]), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /-x/);
    assert.ok(!error.message.includes("\n"), error.message);
    return true;
  });
});

Deno.test("TCPCLI_USAGE shows the synopsis and every long option", () => {
  assert.match(TCPCLI_USAGE, /tcpcli \[OPTIONS\] HOST \[PORT\]/);
  for (
    const option of [
      "--help",
      "--version",
      "--debug",
      "--service",
      "--timeout",
      "--failure-code",
      "--command",
      "--interactive",
      "--format",
      "--quiet",
    ]
  ) {
    assert.ok(TCPCLI_USAGE.includes(option), option);
  }
});

Deno.test("TCPCLI_USAGE points to tcpcli soak", () => {
  assert.match(TCPCLI_USAGE, /tcpcli soak \[OPTIONS\] HOST PORT/);
});
