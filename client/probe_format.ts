/**
 * How a probe result is printed: text for people, one JSON object for
 * programs, or a Nagios plugin line with perfdata.
 */
import { formatHostPort } from "../common/mod.ts";
import type { ProbeResult } from "./probe.ts";

/** Output formats of the probe. */
export type ProbeFormat = "text" | "json" | "nagios";

/** The formats accepted by `--format`. */
export const PROBE_FORMATS: readonly ProbeFormat[] = ["text", "json", "nagios"];

/** Nagios plugin return codes. */
export const NagiosCode = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
} as const;

/**
 * The Nagios code of a result: GOOD is OK; BAD, unreachable, reset and
 * timeout are CRITICAL; a reply that is not understood is UNKNOWN.
 */
export function nagiosCode(result: ProbeResult): number {
  switch (result.status) {
    case "GOOD":
      return NagiosCode.OK;
    case "PROTOCOL_ERROR":
      return NagiosCode.UNKNOWN;
    default:
      return NagiosCode.CRITICAL;
  }
}

/** Renders a result as one line (with a trailing newline). */
export function formatProbe(
  result: ProbeResult,
  format: ProbeFormat,
  exitCode: number,
): string {
  const target = formatHostPort(result.hostname, result.port);
  const seconds = result.seconds.toFixed(3);
  switch (format) {
    case "json":
      return JSON.stringify({
        status: result.status,
        exit_code: exitCode,
        host: result.hostname,
        port: result.port,
        time_s: Number(seconds),
        detail: result.detail,
      }) + "\n";
    case "nagios": {
      const code = nagiosCode(result);
      const label = Object.keys(NagiosCode)[code] ?? "UNKNOWN";
      const text = result.status === "GOOD" || result.status === "BAD"
        ? result.status
        : result.detail.replaceAll("|", "/");
      return `TCPSERVD ${label} - ${text} | time=${seconds}s\n`;
    }
    default:
      return result.status === "GOOD" || result.status === "BAD"
        ? `${result.status} ${target} time=${seconds}s\n`
        : `${result.status} ${result.detail}\n`;
  }
}
