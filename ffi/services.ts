/**
 * Service names to port numbers through libc's `getservbyname()`, so names
 * resolve exactly as C tools on the same host resolve them (`/etc/services`,
 * NSS).
 *
 * @module
 */

import { libc } from "./libc.ts";
import { ntohs, SERVENT } from "./layout.ts";

const encoder = new TextEncoder();

/**
 * Looks up the port of a named service, such as `"http"` → 80.
 *
 * `getservbyname()` returns a pointer into a static buffer; the port is
 * copied out at once, before any other call could overwrite it. It is not
 * safe to call from several Workers at the same moment.
 *
 * @example
 * ```ts
 * import { getServiceByName } from "./services.ts";
 *
 * const port = getServiceByName("ssh"); // 22 on most systems
 * ```
 *
 * @param name The service name or alias.
 * @param protocol The protocol the service is registered for.
 * @returns The port in host byte order, or `null` when the name is unknown.
 * @throws {TypeError} When `name` is empty or holds a NUL byte, or
 * `protocol` is neither `"tcp"` nor `"udp"`.
 */
export function getServiceByName(
  name: string,
  protocol: "tcp" | "udp" = "tcp",
): number | null {
  if (typeof name !== "string" || name === "" || name.includes("\0")) {
    throw new TypeError(
      `Invalid service name: expected a non-empty string without NUL, got ${
        JSON.stringify(name)
      }`,
    );
  }
  if (protocol !== "tcp" && protocol !== "udp") {
    throw new TypeError(
      `Invalid protocol: expected "tcp" or "udp", got ${
        JSON.stringify(protocol)
      }`,
    );
  }
  const servent = libc().getservbyname(
    encoder.encode(name + "\0"),
    encoder.encode(protocol + "\0"),
  );
  if (servent === null) return null;
  // s_port is an int holding the port in network byte order in its low 16 bits.
  const raw = new Deno.UnsafePointerView(servent).getInt32(SERVENT.port);
  return ntohs(raw & 0xffff);
}
