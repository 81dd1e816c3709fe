/**
 * The commands' way to start the endpoint: listen, then log
 * `metrics on HOST:PORT` with the port really bound (port 0 resolved), as
 * `listening on` does for the service itself.
 */
import { errorMessage, formatHostPort } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import type { MetricsAddress } from "./metrics_address.ts";
import { MetricsServer } from "./metrics_server.ts";
import type { Registry } from "./registry.ts";

/**
 * Serves `registry` on `address` and logs `metrics on HOST:PORT` under the
 * command's log category.
 *
 * @param category The command's logger name, e.g. `"tcpservd"`.
 * @throws {Deno.errors.AddrInUse} And the other errors of a listen.
 */
export function serveMetrics(
  address: MetricsAddress,
  registry: Registry,
  category: string,
): MetricsServer {
  const log = tcpkitLogger(category);
  const server = MetricsServer.listen({
    ...address,
    render: () => registry.render(),
    onError: (error) =>
      log.error("metrics failed to render: {error}", {
        error: errorMessage(error),
      }),
  });
  log.info(`metrics on ${formatHostPort(address.hostname, server.addr.port)}`);
  return server;
}
