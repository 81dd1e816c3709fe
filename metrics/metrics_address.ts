/**
 * The `--metrics HOST:PORT` value: where the metrics endpoint listens. Kept
 * apart from the server so that parsing a command line loads nothing else.
 */
import { parseHost, parsePort, UsageError } from "../common/mod.ts";

/** Where `/metrics` is served. */
export interface MetricsAddress {
  /** IP literal or host name to bind. */
  hostname: string;
  /** Port; 0 picks a free one (the `metrics on` log line tells which). */
  port: number;
}

/**
 * Parses `HOST:PORT` (`127.0.0.1:9100`, `[::1]:9100`, `0.0.0.0:0`).
 *
 * @param option The option's name, for messages. @default {"--metrics"}
 * @throws {UsageError} Without a host, a port, or with a bad one.
 */
export function parseMetricsAddress(
  text: string,
  option = "--metrics",
): MetricsAddress {
  const colon = text.lastIndexOf(":");
  const host = colon < 0 ? "" : text.slice(0, colon);
  const port = colon < 0 ? "" : text.slice(colon + 1);
  // A bare IPv6 literal has colons in it: it needs brackets here.
  const bareIpv6 = host.includes(":") && !host.startsWith("[");
  if (host === "" || port === "" || bareIpv6) {
    throw new UsageError(
      `Invalid value for ${option}: "${text}" (expected HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100)`,
    );
  }
  try {
    return {
      hostname: parseHost(host),
      port: parsePort(port, `${option} port`),
    };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(
      `Invalid value for ${option}: "${text}": ${error.message}`,
    );
  }
}
