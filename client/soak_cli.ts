/**
 * The command line of `tcpcli soak`: options, defaults, limits and the help
 * text.
 *
 * @module
 */
import {
  parseCommandLine,
  parseHost,
  parseNumberOption,
  parsePort,
  UsageError,
} from "../common/mod.ts";
import { SOAK_MODES, type SoakMode } from "./soak_payload.ts";

/** Exit code when anything failed (refused, reset, timed out, lost, wrong). */
export const SOAK_LOSS_EXIT = 1;
/** Exit code when the run itself could not be done (e.g. an output file). */
export const SOAK_ERROR_EXIT = 2;

/** Most connections soak keeps open. */
export const MAX_CONNS = 10_000;
/** Longest run, in seconds. */
export const MAX_DURATION_S = 3600;
/** Most messages in one run (each costs a byte of bookkeeping). */
export const MAX_MESSAGES = 100_000_000;

/** The usage text printed by `tcpcli soak --help` and after a usage error. */
export const SOAK_USAGE = `USAGE:
  tcpcli soak [OPTIONS] HOST PORT

  Puts a steady load on a server and measures what an event costs its
  clients: --conns connections carry --rate messages per second in all,
  open loop (message i is due at start + i/rate, and its latency counts
  from then, so a stall cannot hide), while --connect-rate new connections
  per second replace old ones. Prints a text summary, messages lost apart
  from connections failed, and exits 0 when nothing failed, 1 when anything
  did (a connection refused or reset, a message timed out, lost or answered
  wrong), 2 when the run could not be done, 64 for a bad command line.

MODES (--mode, default auto: tcpservd if the server greets with "> ",
else echo):
  tcpservd   send getstatus after each "> " prompt, expect GOOD or BAD
             (with --by-node: send hostname, expect hostname:[NODE])
  echo       send numbered 16-byte lines, check each echo for loss,
             duplication, reordering and corruption
  line       send --send LINE, expect each reply line to match --expect

OPTIONS:
  -h, --help               Print this help and exit
  -c, --conns N            Connections kept open (default 10, at most ${MAX_CONNS})
  -r, --rate R             Messages per second over all connections
                           (default 100)
      --connect-rate R     New connections per second: each replaces the
                           oldest connection, closed once its replies are in
                           (default 0). A connection that fails, or that the
                           server closes or answers otherwise before its
                           first reply (refused), is reopened after 100 ms;
                           one closed after a reply, at once.
      --per-conn N         Messages per connection, then close and reopen
                           it (default 0: no limit; 1 for a server that
                           answers once and closes, such as iotcpd)
  -d, --duration SECS      Length of the load (default 10, at most ${MAX_DURATION_S})
  -n, --count N            Send exactly N messages instead (at --rate),
                           for a run that repeats exactly
  -t, --timeout MS         A message not answered this long after it was
                           due is timed out (default 2000); opening a
                           connection (connect and greeting) is bounded by
                           it too
  -m, --mode MODE          auto, tcpservd, echo or line
      --send LINE          The line to send (line mode; tcpservd mode too)
      --expect REGEX       What each reply must match
      --by-node            Count replies per node: the first capture group
                           of --expect names the node (tcpservd mode sends
                           hostname); reports each node's first and last
                           reply (at most 64 nodes by name, the rest as
                           "(other)")
      --during CMD         Run CMD (sh -c) during the load and mark the
                           window from its start to its exit; every failure
                           is attributed to before, during or after it. CMD
                           runs in its own process group: what is left of
                           it when the load ends gets SIGTERM
      --at SECS            When to start CMD (default: a third of the run)
      --json FILE          Write the summary as one JSON object (- for stdout)
      --timeline-json FILE Write the 100 ms timeline as JSON (- for stdout)
      --report FILE        Write a self-contained HTML page plotting the run
  -q, --quiet              No text summary

  Failures count when they happen, except time-outs, which count at the
  time their message was due. Ctrl-C ends the load early and still reports.

EXAMPLE:
  tcpcli soak --conns 50 --rate 2000 --duration 20 \\
    --during "systemctl reload haproxy" --at 5 --report soak.html lb1 1971
`;

/** The parsed `tcpcli soak` command line. */
export interface SoakCli {
  /** `--help` was given. */
  help: boolean;
  /** Never set: soak has no --version of its own (tcpcli -V has it). */
  version: boolean;
  /** Host to load. */
  hostname: string;
  /** Its port. */
  port: number;
  /** Connections kept open. */
  conns: number;
  /** Messages per second over all connections. */
  rate: number;
  /** New connections per second. */
  connectRate: number;
  /** Messages per connection before it is replaced (0: no limit). */
  perConn: number;
  /** Length of the load in ms. */
  durationMs: number;
  /** Exact number of messages, if given. */
  count: number | undefined;
  /** Reply timeout in ms, counted from when the message was due. */
  timeoutMs: number;
  /** Payload mode. */
  mode: SoakMode;
  /** The line to send, if given. */
  send: string | undefined;
  /** The reply pattern, if given. */
  expect: RegExp | undefined;
  /** Count replies per node. */
  byNode: boolean;
  /** The command to run during the load. */
  during: string | undefined;
  /** When to run it, in ms after the load started. */
  atMs: number;
  /** Where to write the JSON summary. */
  json: string | undefined;
  /** Where to write the timeline. */
  timelineJson: string | undefined;
  /** Where to write the HTML report. */
  report: string | undefined;
  /** No text summary. */
  quiet: boolean;
}

function path(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === "" || value.includes("\0")) {
    throw new UsageError(`Invalid value for ${name}: "${value}"`);
  }
  return value;
}

/**
 * Parses the arguments after `soak`.
 *
 * @throws {UsageError} for unknown options, bad values, a missing HOST or PORT.
 */
export function parseSoakArgs(args: string[]): SoakCli {
  const { values, positionals } = parseCommandLine(args, {
    help: { type: "boolean", short: "h" },
    conns: { type: "string", short: "c" },
    rate: { type: "string", short: "r" },
    "connect-rate": { type: "string" },
    "per-conn": { type: "string" },
    duration: { type: "string", short: "d" },
    count: { type: "string", short: "n" },
    timeout: { type: "string", short: "t" },
    mode: { type: "string", short: "m" },
    send: { type: "string" },
    expect: { type: "string" },
    "by-node": { type: "boolean" },
    during: { type: "string" },
    at: { type: "string" },
    json: { type: "string" },
    "timeline-json": { type: "string" },
    report: { type: "string" },
    quiet: { type: "boolean", short: "q" },
  });
  const help = values.help ?? false;
  if (!help && positionals.length < 2) {
    throw new UsageError(
      positionals.length === 0 ? "Missing HOST" : "Missing PORT",
    );
  }
  if (positionals.length > 2) {
    throw new UsageError(`Unexpected argument: ${positionals[2]}`);
  }
  const rate = values.rate === undefined ? 100 : parseNumberOption(
    "--rate",
    values.rate,
    { fractional: true, min: 0.1, max: 1_000_000 },
  );
  const count = values.count === undefined
    ? undefined
    : parseNumberOption("--count", values.count, { min: 1, max: MAX_MESSAGES });
  if (count !== undefined && values.duration !== undefined) {
    throw new UsageError("--count and --duration cannot be combined");
  }
  const durationMs = count !== undefined
    ? Math.ceil((count / rate) * 1000)
    : 1000 * (values.duration === undefined ? 10 : parseNumberOption(
      "--duration",
      values.duration,
      { fractional: true, min: 0.1, max: MAX_DURATION_S },
    ));
  if (durationMs > MAX_DURATION_S * 1000) {
    throw new UsageError(
      `--count ${count} at --rate ${rate} lasts longer than ${MAX_DURATION_S} s`,
    );
  }
  if (count === undefined && (durationMs / 1000) * rate > MAX_MESSAGES) {
    throw new UsageError(
      `--rate ${rate} for ${
        durationMs / 1000
      } s is more than ${MAX_MESSAGES} messages`,
    );
  }
  const mode = values.mode ?? (values.send === undefined ? "auto" : "line");
  if (!(SOAK_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(
      `Invalid value for --mode: "${mode}" (${SOAK_MODES.join(", ")})`,
    );
  }
  const send = values.send;
  if (send !== undefined && /[\r\n\0]/.test(send)) {
    throw new UsageError("Invalid value for --send: no newline or NUL allowed");
  }
  let expect: RegExp | undefined;
  if (values.expect !== undefined) {
    try {
      expect = new RegExp(values.expect);
    } catch (error) {
      throw new UsageError(
        `Invalid value for --expect: ${(error as Error).message}`,
      );
    }
  }
  if (mode === "line" && (send === undefined || expect === undefined)) {
    throw new UsageError("Line mode needs --send LINE and --expect REGEX");
  }
  if ((mode === "echo" || mode === "auto") && (send ?? expect) !== undefined) {
    throw new UsageError(`--send and --expect do not apply to --mode ${mode}`);
  }
  if (mode === "tcpservd" && (send === undefined) !== (expect === undefined)) {
    throw new UsageError(
      "In tcpservd mode give both --send and --expect, or neither",
    );
  }
  const byNode = values["by-node"] ?? false;
  if (byNode && mode === "echo") {
    throw new UsageError("--by-node needs replies that name a node, not echo");
  }
  const during = values.during;
  if (during !== undefined && (during.trim() === "" || during.includes("\0"))) {
    throw new UsageError(`Invalid value for --during: "${during}"`);
  }
  if (values.at !== undefined && during === undefined) {
    throw new UsageError("--at needs --during");
  }
  const atMs = values.at === undefined
    ? Math.round(durationMs / 3)
    : 1000 * parseNumberOption("--at", values.at, {
      fractional: true,
      min: 0,
      max: durationMs / 1000,
    });
  return {
    help,
    version: false,
    hostname: positionals[0] === undefined ? "" : parseHost(positionals[0]),
    port: positionals[1] === undefined ? 0 : parsePort(positionals[1]),
    conns: values.conns === undefined
      ? 10
      : parseNumberOption("--conns", values.conns, { min: 1, max: MAX_CONNS }),
    rate,
    connectRate: values["connect-rate"] === undefined
      ? 0
      : parseNumberOption("--connect-rate", values["connect-rate"], {
        fractional: true,
        min: 0,
        max: 10_000,
      }),
    perConn: values["per-conn"] === undefined ? 0 : parseNumberOption(
      "--per-conn",
      values["per-conn"],
      { min: 0, max: MAX_MESSAGES },
    ),
    durationMs,
    count,
    timeoutMs: values.timeout === undefined
      ? 2000
      : parseNumberOption("--timeout", values.timeout, {
        min: 1,
        max: 600_000,
      }),
    mode: mode as SoakMode,
    send,
    expect,
    byNode,
    during,
    atMs,
    json: path("--json", values.json),
    timelineJson: path("--timeline-json", values["timeline-json"]),
    report: path("--report", values.report),
    quiet: values.quiet ?? false,
  };
}
