/**
 * Host and port parsing and formatting for command lines and log lines.
 */
import { UsageError } from "./usage_error.ts";

/** A host name or IP literal with a TCP port. */
export interface HostPort {
  /** Host name or IP literal, without brackets. */
  hostname: string;
  /** TCP port, 0 to 65535. */
  port: number;
}

/**
 * Checks a port given on a command line or in options.
 *
 * @throws {UsageError} when the text is not an integer from 0 to 65535.
 */
export function parsePort(text: string, name = "port"): number {
  if (!/^\d{1,5}$/.test(text.trim())) {
    throw new UsageError(`Invalid ${name}: "${text}" is not a number`);
  }
  const port = Number(text.trim());
  if (port > 65535) {
    throw new UsageError(
      `Invalid ${name}: ${port} is out of range (0 to 65535)`,
    );
  }
  return port;
}

/**
 * Removes the brackets of an IPv6 literal (`[::1]` → `::1`) and checks that
 * the host is not empty.
 */
export function parseHost(text: string): string {
  const host = text.trim();
  const unbracketed = host.startsWith("[") && host.endsWith("]")
    ? host.slice(1, -1)
    : host;
  if (unbracketed === "" || /[\s\0/]/.test(unbracketed)) {
    throw new UsageError(`Invalid host: "${text}"`);
  }
  return unbracketed;
}

/**
 * Formats a host and port for people: IPv6 literals get brackets
 * (`[::1]:1971`), everything else is `host:port`.
 *
 * @example
 * ```ts
 * import { formatHostPort } from "./address.ts";
 * formatHostPort("::1", 1971); // "[::1]:1971"
 * ```
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/** Formats a Deno address as `host:port` (TCP) or its path (Unix). */
export function formatAddr(addr: Deno.Addr): string {
  if ("hostname" in addr) return formatHostPort(addr.hostname, addr.port);
  if ("path" in addr) return addr.path || "(unnamed)";
  return "(unknown)";
}
