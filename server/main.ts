/**
 * `tcpservd`: a test TCP server whose health (GOOD/BAD) is flipped by its
 * clients, for proving that load balancers and cluster monitors react.
 *
 * ```sh
 * deno run --allow-net --allow-ffi --allow-sys=hostname jsr:@tcpkit/tcpkit/tcpservd -p 1971
 * ```
 *
 * @module
 */
import {
  ExitCode,
  formatHostPort,
  printOut,
  reportUsageError,
  UsageError,
  VERSION,
} from "../common/mod.ts";
import { setupLogging, tcpkitLogger } from "../logging/mod.ts";
import { getServiceByName } from "../ffi/mod.ts";
import { Tcpservd } from "./tcpservd.ts";
import {
  FALLBACK_PORT,
  parseTcpservdArgs,
  TCPSERVD_USAGE,
  type TcpservdCli,
} from "./tcpservd_cli.ts";

const log = tcpkitLogger("tcpservd");
// A second SIGTERM/SIGINT this long after the first forces the exit.
const FORCE_AFTER_MS = 1000;

function resolvePort(cli: TcpservdCli): number {
  if (cli.port !== undefined) return cli.port;
  const port = getServiceByName(cli.service, "tcp");
  if (port !== null) {
    log.debug("service {service} is port {port} in /etc/services", {
      service: cli.service,
      port,
    });
    return port;
  }
  log.warn("service {service} not found in /etc/services, using port {port}", {
    service: cli.service,
    port: FALLBACK_PORT,
  });
  return FALLBACK_PORT;
}

/** Runs tcpservd with the given arguments; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  let cli: TcpservdCli;
  try {
    cli = parseTcpservdArgs(args);
  } catch (error) {
    if (error instanceof UsageError) {
      return reportUsageError("tcpservd", error, TCPSERVD_USAGE);
    }
    throw error;
  }
  if (cli.help) {
    printOut(TCPSERVD_USAGE);
    return ExitCode.OK;
  }
  if (cli.version) {
    printOut(`tcpservd ${VERSION}\n`);
    return ExitCode.OK;
  }
  setupLogging({ debug: cli.debug, format: cli.logFormat });
  const port = resolvePort(cli);
  let server: Tcpservd;
  try {
    server = new Tcpservd({
      hostname: cli.address,
      port,
      initialState: cli.initialState,
      badQuit: cli.badQuit,
      maxConns: cli.maxConns,
      maxLine: cli.maxLine,
      maxLoops: cli.maxLoops,
      idleTimeoutMs: cli.idleTimeoutSecs * 1000,
      drainTimeoutMs: cli.drainTimeoutSecs * 1000,
      keepAlive: cli.keepAlive,
      reuseAddr: cli.reuseAddr,
      ...(cli.keepAliveIdleSecs === undefined
        ? {}
        : { keepAliveIdleSecs: cli.keepAliveIdleSecs }),
    });
  } catch (error) {
    log.error("cannot listen on {addr}: {error}", {
      addr: formatHostPort(cli.address, port),
      error: error instanceof Error ? error.message : String(error),
    });
    return ExitCode.OS_ERROR;
  }
  // Signals first: a supervisor may signal as soon as it reads the line.
  let firstSignalAt: number | undefined;
  const onSignal = (signal: Deno.Signal) => {
    const now = performance.now();
    if (firstSignalAt !== undefined) {
      // `deno task` and process groups can deliver one kill twice at once;
      // only a deliberate second signal cuts the drain short.
      if (now - firstSignalAt < FORCE_AFTER_MS) return;
      log.warn("{signal} again: exiting without waiting for clients", {
        signal,
      });
      Deno.exit(ExitCode.SOFTWARE);
    }
    firstSignalAt = now;
    log.info("{signal}: draining {count} connections", {
      signal,
      count: server.server.connectionCount,
    });
    void server.shutdown();
  };
  const handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const handler = () => onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const { hostname, port: bound } = server.addr;
  log.info(`listening on ${formatHostPort(hostname, bound)}`);
  log.info("state is {state}", { state: server.state.get() });

  await server.server.finished;
  for (const [signal, handler] of handlers) {
    Deno.removeSignalListener(signal, handler);
  }
  log.info("stopped after {count} connections", {
    count: server.server.acceptedCount,
  });
  return ExitCode.OK;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
