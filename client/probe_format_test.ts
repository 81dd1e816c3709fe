import assert from "node:assert/strict";
import type { ProbeResult, ProbeStatus } from "./probe.ts";
import {
  formatProbe,
  NagiosCode,
  nagiosCode,
  PROBE_FORMATS,
} from "./probe_format.ts";

function result(
  status: ProbeStatus,
  detail = "",
  overrides: Partial<ProbeResult> = {},
): ProbeResult {
  return {
    status,
    hostname: "127.0.0.1",
    port: 1971,
    seconds: 0.0031,
    detail,
    ...overrides,
  };
}

const REFUSED =
  "Cannot connect to 127.0.0.1:1971: Connection refused (os error 111)";
const TIMED_OUT = "127.0.0.1:1971: Timed out after 5 s";
const BAD_REPLY = '127.0.0.1:1971: Expected GOOD or BAD, got "MAYBE\\n"';

Deno.test("PROBE_FORMATS lists text, json and nagios", () => {
  assert.deepEqual([...PROBE_FORMATS], ["text", "json", "nagios"]);
});

Deno.test("formatProbe() writes GOOD as text", () => {
  assert.equal(
    formatProbe(result("GOOD"), "text", 0),
    "GOOD 127.0.0.1:1971 time=0.003s\n",
  );
});

Deno.test("formatProbe() writes BAD as text", () => {
  assert.equal(
    formatProbe(result("BAD"), "text", 1),
    "BAD 127.0.0.1:1971 time=0.003s\n",
  );
});

Deno.test("formatProbe() writes failures as text with their detail", () => {
  assert.equal(
    formatProbe(result("UNREACHABLE", REFUSED), "text", 2),
    `UNREACHABLE ${REFUSED}\n`,
  );
  assert.equal(
    formatProbe(result("TIMEOUT", TIMED_OUT), "text", 2),
    `TIMEOUT ${TIMED_OUT}\n`,
  );
  assert.equal(
    formatProbe(result("PROTOCOL_ERROR", BAD_REPLY), "text", 2),
    `PROTOCOL_ERROR ${BAD_REPLY}\n`,
  );
});

Deno.test("formatProbe() puts an IPv6 host in brackets", () => {
  const line = formatProbe(result("GOOD", "", { hostname: "::1" }), "text", 0);
  assert.equal(line, "GOOD [::1]:1971 time=0.003s\n");
});

Deno.test("formatProbe() writes one JSON object per line with every field", () => {
  const line = formatProbe(result("GOOD"), "json", 0);
  assert.ok(line.endsWith("}\n"));
  assert.equal(line.indexOf("\n"), line.length - 1);
  assert.deepEqual(JSON.parse(line), {
    status: "GOOD",
    exit_code: 0,
    host: "127.0.0.1",
    port: 1971,
    time_s: 0.003,
    detail: "",
  });
});

Deno.test("formatProbe() writes BAD as JSON with the exit code given", () => {
  const parsed = JSON.parse(formatProbe(result("BAD"), "json", 1));
  assert.equal(parsed.status, "BAD");
  assert.equal(parsed.exit_code, 1);
});

Deno.test("formatProbe() writes failures as JSON with their detail", () => {
  const cases: [ProbeStatus, string][] = [
    ["UNREACHABLE", REFUSED],
    ["TIMEOUT", TIMED_OUT],
    ["PROTOCOL_ERROR", BAD_REPLY],
  ];
  for (const [status, detail] of cases) {
    const parsed = JSON.parse(formatProbe(result(status, detail), "json", 7));
    assert.deepEqual(parsed, {
      status,
      exit_code: 7,
      host: "127.0.0.1",
      port: 1971,
      time_s: 0.003,
      detail,
    }, status);
  }
});

Deno.test("formatProbe() writes the host without brackets in JSON", () => {
  const parsed = JSON.parse(
    formatProbe(result("GOOD", "", { hostname: "::1" }), "json", 0),
  );
  assert.equal(parsed.host, "::1");
});

Deno.test("formatProbe() writes GOOD as a Nagios OK line", () => {
  assert.equal(
    formatProbe(result("GOOD"), "nagios", 0),
    "TCPSERVD OK - GOOD | time=0.003s\n",
  );
});

Deno.test("formatProbe() writes BAD as a Nagios CRITICAL line", () => {
  assert.equal(
    formatProbe(result("BAD"), "nagios", 2),
    "TCPSERVD CRITICAL - BAD | time=0.003s\n",
  );
});

Deno.test("formatProbe() writes UNREACHABLE as a Nagios CRITICAL line", () => {
  assert.equal(
    formatProbe(result("UNREACHABLE", REFUSED), "nagios", 2),
    `TCPSERVD CRITICAL - ${REFUSED} | time=0.003s\n`,
  );
});

Deno.test("formatProbe() writes TIMEOUT as a Nagios CRITICAL line", () => {
  assert.equal(
    formatProbe(result("TIMEOUT", TIMED_OUT), "nagios", 2),
    `TCPSERVD CRITICAL - ${TIMED_OUT} | time=0.003s\n`,
  );
});

Deno.test("formatProbe() writes PROTOCOL_ERROR as a Nagios UNKNOWN line", () => {
  assert.equal(
    formatProbe(result("PROTOCOL_ERROR", BAD_REPLY), "nagios", 3),
    `TCPSERVD UNKNOWN - ${BAD_REPLY} | time=0.003s\n`,
  );
});

Deno.test("formatProbe() keeps a | in the detail out of the Nagios text part", () => {
  const detail = '127.0.0.1:1971: Expected GOOD or BAD, got "a|b | c"';
  const line = formatProbe(result("PROTOCOL_ERROR", detail), "nagios", 3);
  assert.equal(line.split("|").length, 2, line);
  const [text = "", perfdata = ""] = line.split("|");
  assert.ok(text.startsWith("TCPSERVD UNKNOWN - "), text);
  assert.match(text, /a.b . c/);
  assert.equal(perfdata, " time=0.003s\n");
});

Deno.test("formatProbe() rounds the time to milliseconds", () => {
  assert.match(
    formatProbe(result("GOOD", "", { seconds: 1.23456 }), "text", 0),
    / time=1\.235s\n$/,
  );
  assert.match(
    formatProbe(result("GOOD", "", { seconds: 0 }), "nagios", 0),
    /\| time=0\.000s\n$/,
  );
});

Deno.test("nagiosCode() maps GOOD to OK, BAD/UNREACHABLE/TIMEOUT to CRITICAL, PROTOCOL_ERROR to UNKNOWN", () => {
  assert.equal(nagiosCode(result("GOOD")), 0);
  assert.equal(nagiosCode(result("BAD")), 2);
  assert.equal(nagiosCode(result("UNREACHABLE")), 2);
  assert.equal(nagiosCode(result("TIMEOUT")), 2);
  assert.equal(nagiosCode(result("PROTOCOL_ERROR")), 3);
});

Deno.test("NagiosCode has the plugin return codes", () => {
  assert.deepEqual({ ...NagiosCode }, {
    OK: 0,
    WARNING: 1,
    CRITICAL: 2,
    UNKNOWN: 3,
  });
});
