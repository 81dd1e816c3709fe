/**
 * `takeover`: zero-downtime handover of a listening socket and its live
 * connections to a new process, and a seqnum server and client to prove it.
 *
 * ```sh
 * deno run --allow-net --allow-ffi --allow-env=TCPKIT_LIBC_PATH takeover/main.ts \
 *   server -a 127.0.0.1 -p 1234 -t /tmp/.takeover
 * deno run … takeover/main.ts client -a 127.0.0.1 -p 1234 --conns 100 --interval 10
 * deno run … takeover/main.ts server -T /tmp/.takeover   # takes everything over
 * ```
 *
 * @module
 */

import {
  commandPrologue,
  errorMessage,
  ExitCode,
  formatHostPort,
  onSignal,
  onStopSignals,
  printErr,
  printOut,
  reportUsageError,
  UsageError,
  VERSION,
} from "../common/mod.ts";
import { probeUnixPath } from "../ffi/mod.ts";
import { setupLogging, tcpkitLogger } from "../logging/mod.ts";
import { ServiceNotifier } from "../net/service_notifier.ts";
import {
  type ActivatedSocket,
  SocketActivationError,
  socketsPassed,
  takeActivatedSockets,
} from "../net/socket_activation.ts";
import {
  CLIENT_USAGE,
  type ClientCli,
  formatReport,
  parseClientArgs,
} from "./client_cli.ts";
import { SeqnumClient } from "./seqnum_client.ts";
import { SeqnumService } from "./seqnum_server.ts";
import { parseServerArgs, SERVER_USAGE, type ServerCli } from "./server_cli.ts";
import { TakeoverRefusedError } from "./takeover_error.ts";
import type { TakeoverMetrics } from "./takeover_metrics.ts";
import { TakeoverServer } from "./takeover_server.ts";

/** Exit status of a refused takeover (sysexits EX_NOPERM). */
export const EXIT_TAKEOVER_REFUSED = 77;
/** Exit status of a takeover that failed otherwise (sysexits EX_UNAVAILABLE). */
export const EXIT_TAKEOVER_FAILED = 69;

/** The usage text of `takeover` itself. */
export const TAKEOVER_USAGE = `USAGE:
  takeover server -a ADDR -p PORT [-b BACKLOG] [-t PATH] [OPTIONS]
  takeover server -T PATH [-t PATH] [OPTIONS]
  takeover client -a ADDR -p PORT [--interval MS] [--count N] [--conns N] [OPTIONS]

  Zero-downtime handover of a listening TCP socket and its live connections
  to a new process over a Unix socket (SCM_RIGHTS), with a seqnum server and
  client to prove that nothing is lost. "takeover server -h" and
  "takeover client -h" give the options.

OPTIONS:
  -h, --help       Print this help and exit
  -V, --version    Print the version and exit
`;

const log = tcpkitLogger("takeover");

/**
 * Why the offer could not listen at `path` (a file, a directory, a live
 * server), or `undefined` when it could (nothing there, or a stale socket).
 */
function offerPathProblem(path: string): string | undefined {
  try {
    const state = probeUnixPath(path);
    if (state.kind === "other") {
      return `a ${state.type} is there, not a stale socket; remove it first`;
    }
    if (state.kind === "live") {
      return `a server listens there${
        state.peer === null ? "" : ` (pid ${state.peer.pid})`
      }`;
    }
  } catch (error) {
    return errorMessage(error);
  }
  return undefined;
}

/** The sockets systemd passed, `null` for none, or the usage exit code (logged) for bad ones. */
function takeSystemdSockets(): ActivatedSocket[] | null | number {
  try {
    return takeActivatedSockets();
  } catch (error) {
    if (!(error instanceof SocketActivationError)) throw error;
    log.error("socket activation: {message}", { message: error.message });
    return ExitCode.USAGE;
  }
}

/** What every way of starting the server passes on: the handler, the limit, the metrics hook. */
interface ServerParts {
  handler: SeqnumService["handler"];
  maxConnections?: number;
  onEvent?: TakeoverMetrics["onEvent"];
}

/** `-T PATH`: takes the server over from the process offering PATH; logs and returns an exit code if not. */
async function takeOverServer(
  cli: ServerCli,
  from: string,
  service: SeqnumService,
  parts: ServerParts,
): Promise<TakeoverServer | number> {
  if (cli.offerPath !== undefined && cli.offerPath !== from) {
    // Checked before anything moves: an offer that fails after the takeover
    // would close every connection just taken over.
    const problem = offerPathProblem(cli.offerPath);
    if (problem !== undefined) {
      log.error("cannot offer takeover on {path}: {problem}; not taking over", {
        path: cli.offerPath,
        problem,
      });
      return ExitCode.OS_ERROR;
    }
  }
  let server: TakeoverServer;
  try {
    server = await TakeoverServer.takeOver(from, {
      ...parts,
      timeoutMs: cli.handoverTimeoutMs,
      restore: (state) => service.restore(state),
    });
  } catch (error) {
    const message = errorMessage(error);
    if (error instanceof TakeoverRefusedError) {
      log.error("takeover refused: {message}", { message });
      return EXIT_TAKEOVER_REFUSED;
    }
    log.error("takeover failed: {message}", { message });
    return EXIT_TAKEOVER_FAILED;
  }
  const info = server.tookOver!;
  log.info(
    `took over ${info.connections} connections and ${info.listeners} listener${
      info.listeners === 1 ? "" : "s"
    } from ${info.path} (pid ${info.fromPid}) in ${
      info.elapsedMs.toFixed(1)
    } ms; ${service.echoedBefore} seqnums echoed before`,
  );
  return server;
}

/** Serves the sockets systemd passed; logs and returns an exit code if it cannot. */
function adoptSystemdSockets(
  cli: ServerCli,
  activated: readonly ActivatedSocket[],
  parts: ServerParts,
): TakeoverServer | number {
  log.info("socket activation: serving {sockets}{ignored}", {
    sockets: activated.map((socket) =>
      `fd ${socket.fd} "${socket.name}" ${
        formatHostPort(socket.addr.hostname, socket.addr.port)
      }`
    ).join(", "),
    ignored: cli.address !== undefined || cli.port !== undefined
      ? " (-a and -p ignored)"
      : "",
  });
  try {
    return TakeoverServer.adopt(activated.map((socket) => socket.fd), parts);
  } catch (error) {
    log.error("cannot serve the sockets systemd passed: {error}", {
      error: errorMessage(error),
    });
    return ExitCode.OS_ERROR;
  }
}

/** Listens on `-a`/`-p`; logs and returns an exit code if it cannot. */
function listenOwn(
  cli: ServerCli,
  parts: ServerParts,
): TakeoverServer | number {
  try {
    return TakeoverServer.listen({
      hostname: cli.address!,
      port: cli.port!,
      backlog: cli.backlog,
      ...parts,
    });
  } catch (error) {
    log.error("cannot listen on {addr}: {error}", {
      addr: formatHostPort(cli.address!, cli.port!),
      error: errorMessage(error),
    });
    return ExitCode.OS_ERROR;
  }
}

/** The server's stop and count signals; returns their cleanups. */
function serverSignals(
  server: TakeoverServer,
  service: SeqnumService,
  notifier: ServiceNotifier,
): (() => void)[] {
  return [
    onStopSignals(["SIGTERM", "SIGINT"], (signal) => {
      log.info("{signal}: closing {count} connections", {
        signal,
        count: server.connectionCount,
      });
      notifier.stopping(
        `${signal}: closing ${server.connectionCount} connections`,
      );
      void server.close();
    }, {
      onForce: (signal) =>
        log.warn("{signal} again: exiting without waiting", { signal }),
    }),
    onSignal("SIGUSR1", () => {
      log.info(
        "serving {conns} connections; accepted {accepted}; echoed {here} seqnums here, {total} along the chain",
        {
          conns: server.connectionCount,
          accepted: server.acceptedCount,
          here: service.echoedHere,
          total: service.echoedBefore + service.echoedHere,
        },
      );
    }),
  ];
}

/** `-t PATH`: offers the server to a next process; `false` (logged) if it cannot. */
function offerServer(
  cli: ServerCli,
  server: TakeoverServer,
  service: SeqnumService,
): boolean {
  if (cli.offerPath === undefined) return true;
  try {
    server.offer(cli.offerPath, {
      timeoutMs: cli.handoverTimeoutMs,
      appState: () => service.snapshot(),
    });
    log.info("offering takeover on {path}", { path: cli.offerPath });
    return true;
  } catch (error) {
    log.error("cannot offer takeover on {path}: {error}", {
      path: cli.offerPath,
      error: errorMessage(error),
    });
    return false;
  }
}

/**
 * `--metrics`: serves them, once the old process has let the address go
 * after a takeover; `null` (logged) when it cannot, `undefined` without.
 */
async function serveServerMetrics(
  cli: ServerCli,
  server: TakeoverServer,
  service: SeqnumService,
  metricsModule: typeof import("./takeover_metrics.ts") | undefined,
  metrics: TakeoverMetrics | undefined,
): Promise<{ close(): Promise<void> } | undefined | null> {
  if (!metricsModule || !metrics || !cli.metrics) return undefined;
  metrics.watch(server, service);
  try {
    // After a takeover the old process may hold the address a moment longer.
    const metricsServer = cli.takeoverFrom === undefined
      ? metricsModule.serveMetrics(cli.metrics, metrics.registry, "takeover")
      : await metricsModule.serveMetricsAfterTakeover(
        cli.metrics,
        metrics.registry,
        cli.handoverTimeoutMs,
      );
    // The new process takes the address over once this one has handed over.
    metrics.onHandedOver = () => void metricsServer.close();
    return metricsServer;
  } catch (error) {
    log.error("cannot serve metrics on {addr}: {error}", {
      addr: formatHostPort(cli.metrics.hostname, cli.metrics.port),
      error: errorMessage(error),
    });
    return null;
  }
}

/** `takeover server`: take over, adopt or listen, offer, serve metrics, then serve until stopped. */
async function runServer(cli: ServerCli): Promise<number> {
  setupLogging({ debug: cli.debug, format: cli.logFormat });
  // systemd's variables, read and removed at once (see contrib/systemd/).
  const notifier = ServiceNotifier.fromEnv();
  const activated = takeSystemdSockets();
  if (typeof activated === "number") return activated;
  const service = new SeqnumService({ logSeqnums: cli.logSeqnums });
  // Loaded only with --metrics, so start-up without it does not pay for it.
  const metricsModule = cli.metrics === undefined
    ? undefined
    : await import("./takeover_metrics.ts");
  const metrics = metricsModule && new metricsModule.TakeoverMetrics();
  const parts: ServerParts = {
    handler: service.handler,
    ...(cli.maxConns === undefined ? {} : { maxConnections: cli.maxConns }),
    ...(metrics ? { onEvent: metrics.onEvent.bind(metrics) } : {}),
  };
  const server = cli.takeoverFrom !== undefined
    ? await takeOverServer(cli, cli.takeoverFrom, service, parts)
    : activated !== null
    ? adoptSystemdSockets(cli, activated, parts)
    : listenOwn(cli, parts);
  if (typeof server === "number") return server;
  const { hostname, port } = server.addr;
  const cleanups = serverSignals(server, service, notifier);
  // Offer first: once "listening on" is out, everything is ready.
  const offered = offerServer(cli, server, service);
  const metricsServer = offered
    ? await serveServerMetrics(cli, server, service, metricsModule, metrics)
    : undefined;
  // Connections taken over are served on, without metrics.
  if (!offered || (metricsServer === null && cli.takeoverFrom === undefined)) {
    for (const cleanup of cleanups) cleanup();
    await server.close();
    return ExitCode.OS_ERROR;
  }
  log.info(`listening on ${formatHostPort(hostname, port)}`);
  const serving = server.addrs.map((addr) =>
    formatHostPort(addr.hostname, addr.port)
  ).join(", ");
  notifier.ready(`serving on ${serving}`);
  cleanups.push(
    notifier.keepAlive(() =>
      `serving on ${serving}, ${server.connectionCount} connections`
    ),
  );
  const outcome = await server.finished;
  await metricsServer?.close();
  for (const cleanup of cleanups) cleanup();
  log.info("{outcome}: echoed {count} seqnums in this process", {
    outcome: outcome === "handed-over" ? "handed over, exiting" : "stopped",
    count: service.echoedHere,
  });
  return ExitCode.OK;
}

async function runClient(cli: ClientCli): Promise<number> {
  const target = formatHostPort(cli.address, cli.port);
  let client: SeqnumClient;
  try {
    client = await SeqnumClient.connect({
      hostname: cli.address,
      port: cli.port,
      conns: cli.conns,
      intervalMs: cli.intervalMs,
      count: cli.count,
      newConnIntervalMs: cli.newConnIntervalMs,
      timeoutMs: cli.timeoutMs,
    });
  } catch (error) {
    printErr(
      `takeover client: cannot connect to ${target}: ${errorMessage(error)}\n`,
    );
    return ExitCode.UNREACHABLE;
  }
  printErr(
    `connected ${cli.conns} connection${
      cli.conns === 1 ? "" : "s"
    } to ${target}\n`,
  );
  const cleanup = onStopSignals(["SIGTERM", "SIGINT"], () => client.stop());
  const duration = cli.durationSecs > 0
    ? setTimeout(() => client.stop(), cli.durationSecs * 1000)
    : undefined;
  const progress = cli.reportMs > 0
    ? setInterval(() => {
      const { sent, received, newConns, maxRttMs } = client.stats;
      printErr(
        `progress: sent=${sent} received=${received} new_conns=${newConns} max_rtt_ms=${
          maxRttMs.toFixed(2)
        }\n`,
      );
    }, cli.reportMs)
    : undefined;
  const report = await client.run();
  clearTimeout(duration);
  clearInterval(progress);
  cleanup();
  if (report.failure !== undefined) printErr(`${report.failure}\n`);
  printOut(formatReport(report, cli.format));
  return report.failure === undefined ? ExitCode.OK : ExitCode.UNHEALTHY;
}

/**
 * Runs `takeover` with the given arguments.
 *
 * @param args `server …`, `client …`, `-h` or `-V`.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "server") {
    const cli = commandPrologue(
      {
        name: "takeover server",
        usage: SERVER_USAGE,
        parse: (args) =>
          parseServerArgs(args, { socketActivated: socketsPassed() }),
      },
      rest,
    );
    return typeof cli === "number" ? cli : await runServer(cli);
  }
  if (command === "client") {
    const cli = commandPrologue(
      { name: "takeover client", usage: CLIENT_USAGE, parse: parseClientArgs },
      rest,
    );
    return typeof cli === "number" ? cli : await runClient(cli);
  }
  if (command === "-h" || command === "--help") {
    printOut(TAKEOVER_USAGE);
    return ExitCode.OK;
  }
  if (command === "-V" || command === "--version") {
    printOut(`takeover ${VERSION}\n`);
    return ExitCode.OK;
  }
  const error = new UsageError(
    command === undefined
      ? "Give a command: server or client"
      : `Unknown command: ${command}`,
  );
  return reportUsageError("takeover", error, TAKEOVER_USAGE);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
