/**
 * `iotcpd`: a stdio-to-TCP redirector. A pool of long-lived line-oriented
 * daemons (`cat`, squidGuard, any Squid helper) behind a TCP port: each
 * request line goes to a free daemon, its reply line comes back, then the
 * connection closes. Failures are answered with `ERR`, never with silence.
 *
 * ```sh
 * deno run --allow-net --allow-run --allow-read --allow-write \
 *   jsr:@tcpkit/tcpkit/iotcpd -n 8 -d "squidGuard -c sg/adblock.conf" -p 1234
 * ```
 *
 * SIGUSR1 prints the original's statistics block, SIGUSR2 the per-daemon
 * table, SIGHUP restarts the daemons without failing a request, and
 * SIGTERM/SIGINT drain, stop the daemons and exit 0.
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
} from "../common/mod.ts";
import { setupLogging, tcpkitLogger } from "../logging/mod.ts";
import { ServiceNotifier } from "../net/service_notifier.ts";
import {
  type ActivatedSocket,
  SocketActivationError,
  takeActivatedSockets,
} from "../net/socket_activation.ts";
import { DaemonSpawnError } from "./daemon.ts";
import { Iotcpd, listeningLines } from "./iotcpd.ts";
import {
  IOTCPD_USAGE,
  type IotcpdCli,
  iotcpdOptionsOf,
  parseIotcpdArgs,
} from "./iotcpd_cli.ts";
import { writeJsonFile } from "./statistics.ts";

const log = tcpkitLogger("iotcpd");

/**
 * Reads (and removes, before any daemon starts) systemd's variables: where
 * to notify, and the listening sockets passed, if any.
 */
function systemdSide():
  | { notifier: ServiceNotifier; sockets: ActivatedSocket[] | null }
  | string {
  const notifier = ServiceNotifier.fromEnv();
  try {
    return { notifier, sockets: takeActivatedSockets() };
  } catch (error) {
    if (error instanceof SocketActivationError) return error.message;
    throw error;
  }
}

async function run(cli: IotcpdCli): Promise<number> {
  let iotcpd: Iotcpd | undefined;
  let stopRequested = false;
  const systemd = systemdSide();
  if (typeof systemd === "string") {
    log.error("socket activation: {message}", { message: systemd });
    return ExitCode.USAGE;
  }
  const { notifier, sockets } = systemd;
  if (sockets !== null) {
    log.info("socket activation: serving {sockets}{ignored}", {
      sockets: sockets.map((socket) =>
        `fd ${socket.fd} "${socket.name}" ${
          formatHostPort(socket.addr.hostname, socket.addr.port)
        }`
      ).join(", "),
      ignored: " (-i, -I and -p ignored)",
    });
  }
  const writeStats = async (): Promise<void> => {
    if (cli.statsJson === undefined || iotcpd === undefined) return;
    try {
      await writeJsonFile(cli.statsJson, iotcpd.statisticsJson());
    } catch (error) {
      log.error("cannot write {path}: {error}", {
        path: cli.statsJson,
        error: String(error),
      });
    }
  };
  // Listen for signals before anything starts: the default action of
  // SIGUSR1, SIGUSR2 and SIGHUP is to terminate, and a monitor may send
  // one at any time. Until the pool runs they do nothing (stops wait).
  const cleanups = [
    onStopSignals(["SIGTERM", "SIGINT", "SIGQUIT"], (signal) => {
      stopRequested = true;
      log.info("{signal}: draining, then stopping the daemons", { signal });
      notifier.stopping(`${signal}: draining, then stopping the daemons`);
      void iotcpd?.shutdown();
    }, {
      onForce: (signal) => {
        log.warn("{signal} again: killing the daemons and exiting", { signal });
        iotcpd?.killNow();
      },
    }),
    onSignal("SIGHUP", () => {
      if (iotcpd === undefined) return;
      log.info("SIGHUP: restarting the daemons");
      iotcpd.restartDaemons();
    }),
    onSignal("SIGUSR1", () => {
      if (iotcpd === undefined) return;
      printErr(iotcpd.statisticsText());
      void writeStats();
    }),
    onSignal("SIGUSR2", () => {
      if (iotcpd === undefined) return;
      printErr(iotcpd.daemonTableText());
      void writeStats();
    }),
  ];
  try {
    try {
      iotcpd = await Iotcpd.start({
        ...iotcpdOptionsOf(cli),
        ...(sockets === null
          ? {}
          : { listenFds: sockets.map((socket) => socket.fd) }),
      });
    } catch (error) {
      const message = errorMessage(error);
      if (error instanceof DaemonSpawnError) {
        log.error("{message}", { message });
      } else {
        log.error("cannot listen on {addr}: {error}", {
          addr: formatHostPort(cli.ipv4 || cli.ipv6 || "", cli.port),
          error: message,
        });
      }
      return ExitCode.OS_ERROR;
    }
    await writeStats();
    let metricsServer: { close(): Promise<void> } | undefined;
    if (cli.metrics !== undefined) {
      // Loaded only with --metrics, so start-up without it does not pay for it.
      const { IotcpdMetrics, serveMetrics } = await import(
        "./iotcpd_metrics.ts"
      );
      try {
        const { registry } = new IotcpdMetrics(iotcpd);
        metricsServer = serveMetrics(cli.metrics, registry, "iotcpd");
      } catch (error) {
        log.error("cannot serve metrics on {addr}: {error}", {
          addr: formatHostPort(cli.metrics.hostname, cli.metrics.port),
          error: errorMessage(error),
        });
        await iotcpd.shutdown();
        return ExitCode.OS_ERROR;
      }
    }
    for (const line of listeningLines(iotcpd.addrs)) log.info(line);
    const serving = iotcpd.addrs.map((addr) =>
      formatHostPort(addr.hostname, addr.port)
    ).join(", ");
    notifier.ready(`serving on ${serving}`);
    const running = iotcpd;
    cleanups.push(
      notifier.keepAlive(() =>
        `serving on ${serving}, ${running.connectionCount} connections, ${running.pool.size} daemons`
      ),
    );
    // A stop signal that came during start-up takes effect now.
    if (stopRequested) void iotcpd.shutdown();
    await iotcpd.finished;
    await metricsServer?.close();
    const { queries } = iotcpd.snapshot();
    log.info(
      "stopped: {total} requests, {replied} replied, {timeout} timed out, {failed} failed, {unknown} without a request",
      queries,
    );
    return ExitCode.OK;
  } finally {
    for (const cleanup of cleanups) cleanup();
  }
}

/** Runs iotcpd with the given arguments; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const cli = commandPrologue({
    name: "iotcpd",
    usage: IOTCPD_USAGE,
    parse: parseIotcpdArgs,
  }, args);
  if (typeof cli === "number") return cli;
  setupLogging({ debug: cli.debug, format: cli.logFormat });
  return await run(cli);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
