import assert from "node:assert/strict";
import { parseCommandLine } from "./command_line.ts";
import { UsageError } from "./usage_error.ts";

const SPEC = {
  debug: { type: "boolean", short: "d" },
  keepalive: { type: "boolean", short: "k" },
  reuseaddr: { type: "boolean", short: "r" },
  port: { type: "string", short: "p" },
  command: { type: "string", short: "c", multiple: true },
  "log-format": { type: "string" },
} as const;

Deno.test("parseCommandLine() combines short flags as getopt does", () => {
  const { values, positionals } = parseCommandLine(["-dkr"], SPEC);
  assert.deepEqual(values, { debug: true, keepalive: true, reuseaddr: true });
  assert.deepEqual(positionals, []);
});

Deno.test("parseCommandLine() takes a short option's value from the same or the next word", () => {
  assert.equal(parseCommandLine(["-p9000"], SPEC).values.port, "9000");
  assert.equal(parseCommandLine(["-p", "9000"], SPEC).values.port, "9000");
  assert.deepEqual(parseCommandLine(["-dkrp9000"], SPEC).values, {
    debug: true,
    keepalive: true,
    reuseaddr: true,
    port: "9000",
  });
  // getopt semantics: the next word is the value even when it starts with a dash.
  assert.equal(parseCommandLine(["-p", "-1"], SPEC).values.port, "-1");
});

Deno.test("parseCommandLine() reads long options with = or a separate value", () => {
  assert.equal(
    parseCommandLine(["--log-format=json"], SPEC).values["log-format"],
    "json",
  );
  assert.equal(
    parseCommandLine(["--log-format", "json"], SPEC).values["log-format"],
    "json",
  );
  assert.equal(parseCommandLine(["--port="], SPEC).values.port, "");
});

Deno.test("parseCommandLine() collects a repeatable option in order", () => {
  const { values } = parseCommandLine(
    ["-c", "a", "--command", "b c", "-cd"],
    SPEC,
  );
  assert.deepEqual(values.command, ["a", "b c", "d"]);
});

Deno.test("parseCommandLine() keeps positionals and stops at --", () => {
  const { values, positionals } = parseCommandLine([
    "host",
    "-d",
    "--",
    "-k",
    "--x",
  ], SPEC);
  assert.deepEqual(values, { debug: true });
  assert.deepEqual(positionals, ["host", "-k", "--x"]);
  assert.deepEqual(parseCommandLine(["-"], SPEC).positionals, ["-"]);
});

Deno.test("parseCommandLine() throws UsageError for unknown options", () => {
  assert.throws(
    () => parseCommandLine(["-x"], SPEC),
    new UsageError("Unknown option '-x'"),
  );
  assert.throws(
    () => parseCommandLine(["-dx"], SPEC),
    new UsageError("Unknown option '-x'"),
  );
  assert.throws(
    () => parseCommandLine(["--nope"], SPEC),
    new UsageError("Unknown option '--nope'"),
  );
  // Inherited object keys are not options.
  assert.throws(() => parseCommandLine(["--toString"], SPEC), UsageError);
});

Deno.test("parseCommandLine() throws UsageError for a missing value or a value on a flag", () => {
  assert.throws(
    () => parseCommandLine(["-p"], SPEC),
    new UsageError("Option '-p' needs a value"),
  );
  assert.throws(
    () => parseCommandLine(["--port"], SPEC),
    new UsageError("Option '--port' needs a value"),
  );
  assert.throws(
    () => parseCommandLine(["--debug=yes"], SPEC),
    new UsageError("Option '--debug' does not take a value"),
  );
});
