/**
 * `takeover client`'s command line: options, defaults, help text, and the
 * summary it prints.
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
import type { SeqnumReport } from "./seqnum_client.ts";

/** The usage text of `takeover client`. */
export const CLIENT_USAGE = `USAGE:
  takeover client -a ADDR -p PORT [--interval MS] [--count N] [--conns N] [OPTIONS]

  Sends increasing 4-byte big-endian seqnums on each connection and checks
  every echo. On any gap, duplicate, reset or end of file it prints
  "Seqnum discontinuity !!! (GOT != EXPECTED)" and exits 1; otherwise it
  exits 0 with a summary: sent, received, round trips.

OPTIONS:
  -a, --connect-address ADDR   Server address
  -p, --connect-port PORT      Server port
      --interval MS            Pace of each connection (default 100; 0: as fast
                               as echoes come)
      --count N                Seqnums per connection; 0 until SIGINT/SIGTERM or
                               --duration (default 0)
      --conns N                Long-lived connections (default 1)
      --new-conn-interval MS   Also open a fresh connection every MS ms: one
                               seqnum, check the echo, close; a refused, reset
                               or unanswered one fails the run (default 0: none)
      --duration SECS          Stop after SECS seconds (default 0: no limit)
      --timeout MS             Longest wait for an echo or a connect (default 5000)
      --report MS              Log progress on stderr every MS ms (default 0: never)
      --format FORMAT          Summary as text or json (default text)
  -h, --help                   Print this help and exit
  -V, --version                Print the version and exit

Exit status: 0 all echoes in order, 1 a discontinuity or failure, 2 cannot
connect. Logs "connected N connections to HOST:PORT" on stderr once they
are all open.
`;

/** The parsed command line of `takeover client`. */
export interface ClientCli {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** Server address. */
  address: string;
  /** Server port. */
  port: number;
  /** Pace in ms. */
  intervalMs: number;
  /** Seqnums per connection; 0 unlimited. */
  count: number;
  /** Long-lived connections. */
  conns: number;
  /** Fresh connection pace in ms; 0 none. */
  newConnIntervalMs: number;
  /** Run length in seconds; 0 unlimited. */
  durationSecs: number;
  /** Echo and connect timeout in ms. */
  timeoutMs: number;
  /** Progress pace in ms; 0 none. */
  reportMs: number;
  /** Summary format. */
  format: "text" | "json";
}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  "connect-address": { type: "string", short: "a" },
  "connect-port": { type: "string", short: "p" },
  interval: { type: "string" },
  count: { type: "string" },
  conns: { type: "string" },
  "new-conn-interval": { type: "string" },
  duration: { type: "string" },
  timeout: { type: "string" },
  report: { type: "string" },
  format: { type: "string" },
} as const;

/**
 * Parses `takeover client`'s arguments.
 *
 * @param args The arguments after `client`.
 * @returns The parsed command line.
 * @throws {UsageError} For unknown options, bad values, or a missing `-a`/`-p`.
 */
export function parseClientArgs(args: string[]): ClientCli {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument: ${positionals[0]}`);
  }
  const help = values.help ?? false;
  const version = values.version ?? false;
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(
      `Invalid value for --format: "${format}" (text or json)`,
    );
  }
  const addressText = values["connect-address"];
  const portText = values["connect-port"];
  if (
    !help && !version && (addressText === undefined || portText === undefined)
  ) {
    throw new UsageError("Give -a ADDR and -p PORT");
  }
  const number = (
    name: string,
    text: string | undefined,
    fallback: number,
    min = 0,
    max = 1e9,
  ) => parseNumberOption(name, text ?? String(fallback), { min, max });
  return {
    help,
    version,
    address: addressText === undefined ? "" : parseHost(addressText),
    port: portText === undefined ? 0 : parsePort(portText),
    intervalMs: number("--interval", values.interval, 100, 0, 3_600_000),
    count: number("--count", values.count, 0),
    conns: number("--conns", values.conns, 1, 1, 100_000),
    newConnIntervalMs: number(
      "--new-conn-interval",
      values["new-conn-interval"],
      0,
      0,
      3_600_000,
    ),
    durationSecs: parseNumberOption("--duration", values.duration ?? "0", {
      fractional: true,
      max: 86400 * 365,
    }),
    timeoutMs: number("--timeout", values.timeout, 5000, 1, 3_600_000),
    reportMs: number("--report", values.report, 0, 0, 3_600_000),
    format,
  };
}

/**
 * Formats a report as the client's summary line.
 *
 * @param report The report.
 * @param format `text` (one line for people) or `json` (one object).
 * @returns The line, with its newline.
 */
export function formatReport(
  report: SeqnumReport,
  format: "text" | "json",
): string {
  if (format === "json") {
    return JSON.stringify({
      ok: report.failure === undefined,
      ...report,
      failure: report.failure ?? null,
    }) + "\n";
  }
  const ms = (value: number) => value.toFixed(2);
  return `sent ${report.sent} received ${report.received} on ${report.conns} connection${
    report.conns === 1 ? "" : "s"
  }; round trip max ${ms(report.maxRttMs)} ms, p99 ${
    ms(report.p99RttMs)
  } ms, median ${
    ms(report.p50RttMs)
  } ms; new connections ${report.newConns} (${report.newConnsFailed} failed)${
    report.failure === undefined ? "" : `; FAILED: ${report.failure}`
  }\n`;
}
