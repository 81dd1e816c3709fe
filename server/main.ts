/**
 * `tcpservd`: a test TCP server whose health (GOOD/BAD) is flipped by its
 * clients, for proving that load balancers and cluster monitors react; with
 * `--echo`, a byte-transparent echo server; with `-w N`, a master and N
 * worker processes on one port (SO_REUSEPORT).
 *
 * ```sh
 * deno run --allow-net --allow-ffi --allow-sys=hostname --allow-run --unstable-net \
 *   jsr:@tcpkit/tcpkit/tcpservd -p 1971
 * ```
 *
 * @module
 */
import {
  commandPrologue,
  ExitCode,
  formatHostPort,
  onSignal,
  onStopSignals,
  VERSION,
} from "../common/mod.ts";
import { getServiceByName, PortReservation, SharedMemory } from "../ffi/mod.ts";
import { setupLogging, tcpkitLogger } from "../logging/mod.ts";
import { ServiceNotifier } from "../net/service_notifier.ts";
import {
  type ActivatedSocket,
  SocketActivationError,
  takeActivatedSockets,
} from "../net/socket_activation.ts";
import { TakeoverRefusedError, TakeoverServer } from "../takeover/mod.ts";
import { AgentResponder } from "./agent_responder.ts";
import { AgentState } from "./agent_state.ts";
import { ControlPolicy } from "./control_policy.ts";
import { FaultSet } from "./fault_set.ts";
import { parseFaultSpec } from "./fault_spec.ts";
import { HealthState } from "./health_state.ts";
import {
  healthSnapshot,
  restoreHealth,
  takeoverCommandHandler,
  takeoverEchoHandler,
} from "./takeover_session.ts";
import { Tcpservd } from "./tcpservd.ts";
import {
  FALLBACK_PORT,
  idleTimeoutOf,
  maxConnsOf,
  parseTcpservdArgs,
  TCPSERVD_USAGE,
  type TcpservdCli,
  workerArgs,
} from "./tcpservd_cli.ts";
import { announceReady, watchMaster } from "./worker_link.ts";
import { WorkerSupervisor } from "./worker_supervisor.ts";

const log = tcpkitLogger("tcpservd");
// The permissions a worker needs; the master passes exactly these on.
const WORKER_FLAGS = [
  "--allow-net",
  "--allow-ffi",
  "--allow-sys=hostname",
  "--allow-env=TCPKIT_LIBC_PATH",
  "--unstable-net",
];

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

/** The control rule of the command line, logged once at start. */
function controlPolicyOf(cli: TcpservdCli): ControlPolicy {
  const policy = new ControlPolicy({
    ...(cli.controlFrom ? { controlFrom: cli.controlFrom } : {}),
    readOnly: cli.readOnly,
  });
  // Once per server: by the single process, or by the first worker.
  if (!cli.echo && !cli.buggy && (cli.workerId ?? 1) === 1) {
    log.info("control: {rule}", { rule: policy.describe() });
  }
  return policy;
}

// systemd's side, read once in main(): READY/STOPPING/STATUS/WATCHDOG go
// to NOTIFY_SOCKET (a no-op without it), and the sockets it passed, if any.
let notifier = new ServiceNotifier({
  socket: undefined,
  watchdogUsec: undefined,
});
let activated: ActivatedSocket[] | null = null;

/** Tells systemd we serve, then keeps its status (and watchdog) fresh. */
function announceService(addr: string, connections: () => number): () => void {
  notifier.ready(`serving on ${addr}`);
  return notifier.keepAlive(() =>
    `serving on ${addr}, ${connections()} connections`
  );
}

/**
 * Why this command line cannot serve the sockets systemd passed, or
 * `undefined` when it can: every engine serves a passed fd (the epoll echo
 * engine, `FdListener` under the others, the takeover machinery), but
 * workers listen on their own, and only the takeover machinery serves
 * more than one socket.
 */
function activationProblem(
  cli: TcpservdCli,
  sockets: readonly ActivatedSocket[],
): string | undefined {
  const count = cli.workers === 0 ? navigator.hardwareConcurrency : cli.workers;
  if (cli.takeoverFrom !== undefined) {
    return "--takeover-from takes the listener from the old process";
  }
  if (count > 1) return "-w N: each worker opens its own listener; use -w 1";
  if (cli.takeoverPath === undefined && sockets.length > 1) {
    return `one socket is served (${sockets.length} were passed) unless --takeover PATH`;
  }
  return undefined;
}

// A forced exit (a deliberate second stop signal) says so first.
const forceOptions = {
  onForce: (signal: Deno.Signal) =>
    log.warn("{signal} again: exiting without waiting", { signal }),
};

/** True when the echo mode runs on the epoll engine (which has no faults). */
function epollEngineOf(cli: TcpservdCli): boolean {
  return cli.echo &&
    (cli.engine ?? (cli.faults.length > 0 ? "deno" : "epoll")) === "epoll";
}

/** One serving process: the whole server (no master), or one worker. */
async function serve(cli: TcpservdCli, port: number): Promise<number> {
  const worker = cli.workerId;
  let shared: SharedMemory | undefined;
  let server: Tcpservd;
  const faults = new FaultSet();
  const agent = cli.agentPort === undefined
    ? undefined
    : new AgentState(cli.agentBad);
  let responder: AgentResponder | undefined;
  // Loaded only with --metrics, so start-up without it does not pay for it.
  const metricsModule = cli.metrics === undefined
    ? undefined
    : await import("./server_metrics.ts");
  const metrics = metricsModule &&
    new metricsModule.TcpservdMetrics({ commands: !cli.echo && !cli.buggy });
  // A worker of a master serving --metrics counts into the master's region.
  let workerMetrics:
    | import("./worker_metrics.ts").WorkerMetricsWriter
    | undefined;
  if (cli.sharedMetrics !== undefined && worker !== undefined) {
    const { WorkerMetricsWriter } = await import("./worker_metrics.ts");
    try {
      const { path, count } = cli.sharedMetrics;
      workerMetrics = new WorkerMetricsWriter(path, worker, count);
    } catch (error) {
      log.error("cannot open the master's metrics: {error}", {
        error: error instanceof Error ? error.message : String(error),
      });
      return ExitCode.OS_ERROR;
    }
  }
  const observer = metrics ?? workerMetrics;
  try {
    if (cli.sharedState !== undefined) {
      shared = SharedMemory.open(cli.sharedState, 4);
    }
    for (const spec of cli.faults) faults.add(parseFaultSpec(spec));
    const control = controlPolicyOf(cli);
    server = new Tcpservd({
      mode: cli.buggy ? "buggy" : cli.echo ? "echo" : "command",
      // The fastest echo, unless faults need the Deno.listen engine.
      engine: cli.engine ??
        (cli.echo && cli.faults.length === 0 ? "epoll" : "deno"),
      faults,
      control,
      framing: cli.framing,
      leakBits: cli.leakBits,
      linger: cli.linger,
      ...(cli.name === undefined ? {} : { serverName: cli.name }),
      ...(agent ? { agent } : {}),
      ...(observer ? { commandObserver: observer } : {}),
      hostname: cli.address,
      port,
      reusePort: worker !== undefined,
      ...(activated === null ? {} : { listenFd: activated[0]!.fd }),
      backlog: cli.backlog,
      initialState: cli.initialState,
      ...(shared ? { stateCell: shared.int32 } : {}),
      badQuit: cli.badQuit,
      maxConns: cli.maxConcurrentConns > 0
        ? cli.maxConcurrentConns
        : maxConnsOf(cli),
      maxConnsPolicy: cli.maxConcurrentConns > 0 ? "pause" : "refuse",
      ...(cli.echo ? { refusalMessage: "" } : {}),
      maxTotalConns: cli.maxTotalConns,
      maxLine: cli.maxLine,
      maxLoops: cli.maxLoops,
      idleTimeoutMs: idleTimeoutOf(cli) * 1000,
      drainTimeoutMs: cli.drainTimeoutSecs * 1000,
      resetOnClose: cli.sendReset,
      keepAlive: cli.keepAlive,
      noDelay: cli.noDelay,
      reuseAddr: cli.reuseAddr,
      ...(cli.keepAliveIdleSecs === undefined
        ? {}
        : { keepAliveIdleSecs: cli.keepAliveIdleSecs }),
      ...(cli.lingerTimeoutSecs === undefined
        ? {}
        : { finTimeoutSecs: cli.lingerTimeoutSecs }),
    });
  } catch (error) {
    shared?.close();
    log.error("cannot listen on {addr}: {error}", {
      addr: formatHostPort(cli.address, port),
      error: error instanceof Error ? error.message : String(error),
    });
    return ExitCode.OS_ERROR;
  }
  let metricsServer: { close(): Promise<void> } | undefined;
  // The epoll engine (the echo default) cannot inject faults: no series.
  const faultsToCount = epollEngineOf(cli) ? undefined : faults;
  workerMetrics?.watch(server.server, faultsToCount);
  if (metricsModule && metrics && cli.metrics) {
    metrics.watch({
      server: server.server,
      ...(cli.echo || cli.buggy ? {} : { state: server.state }),
      ...(faultsToCount ? { faults: faultsToCount } : {}),
    });
    try {
      metricsServer = metricsModule.serveMetrics(
        cli.metrics,
        metrics.registry,
        "tcpservd",
      );
    } catch (error) {
      log.error("cannot serve metrics on {addr}: {error}", {
        addr: formatHostPort(cli.metrics.hostname, cli.metrics.port),
        error: error instanceof Error ? error.message : String(error),
      });
      await server.shutdown();
      shared?.close();
      return ExitCode.OS_ERROR;
    }
  }
  if (agent !== undefined) {
    try {
      responder = new AgentResponder({
        hostname: cli.address,
        port: cli.agentPort!,
        state: server.state,
        agent,
      });
    } catch (error) {
      log.error("cannot listen for the agent on {addr}: {error}", {
        addr: formatHostPort(cli.address, cli.agentPort!),
        error: error instanceof Error ? error.message : String(error),
      });
      await server.shutdown();
      await metricsServer?.close();
      shared?.close();
      return ExitCode.OS_ERROR;
    }
  }
  const tcp = server.server;
  const stop = (why: string) => {
    log.info("{why}: draining {count} connections", {
      why,
      count: tcp.connectionCount,
    });
    notifier.stopping(`${why}: draining ${tcp.connectionCount} connections`);
    void responder?.close();
    void server.shutdown();
  };
  // Signals first: a supervisor may signal as soon as it reads the line.
  const cleanups = [
    onStopSignals(
      worker === undefined
        ? ["SIGTERM", "SIGINT", "SIGQUIT"]
        : ["SIGTERM", "SIGQUIT"],
      stop,
      forceOptions,
    ),
    onSignal("SIGUSR1", () => {
      log.info("handling {current} connections; handled {total} in total", {
        current: tcp.connectionCount,
        total: tcp.acceptedCount,
      });
    }),
    // The operator's way out of a fault no client can undo (stall-accept, hang).
    onSignal("SIGHUP", () => {
      log.info("SIGHUP: clearing {count} faults", {
        count: faults.list().length,
      });
      faults.clear();
    }),
  ];
  const { hostname, port: bound } = server.addr;
  if (worker === undefined) {
    log.info(`listening on ${formatHostPort(hostname, bound)}`);
    if (!cli.echo) log.info("state is {state}", { state: server.state.get() });
    cleanups.push(
      announceService(
        formatHostPort(hostname, bound),
        () => tcp.connectionCount,
      ),
    );
    if (responder) {
      const { hostname: host, port: agentPort } = responder.addr;
      log.info("agent-check on {addr}: {line}", {
        addr: formatHostPort(host, agentPort),
        line: agent!.line(server.state).trim(),
      });
    }
  } else {
    // The master tells INT to every worker itself; a terminal's Ctrl-C reaches us too.
    cleanups.push(
      onSignal("SIGINT", () => log.debug("SIGINT ignored: the master decides")),
    );
    log.info("worker {worker} (pid {pid}) accepting on {addr}", {
      worker,
      pid: Deno.pid,
      addr: formatHostPort(hostname, bound),
    });
    watchMaster(() => stop("master gone"));
    announceReady();
  }
  await tcp.finished;
  await responder?.close();
  await metricsServer?.close();
  for (const cleanup of cleanups) cleanup();
  shared?.close();
  log.info("stopped after {count} connections", { count: tcp.acceptedCount });
  return ExitCode.OK;
}

// Exit codes of a failed --takeover-from, as takeover's own (sysexits).
const EXIT_TAKEOVER_REFUSED = 77;
const EXIT_TAKEOVER_FAILED = 69;

/**
 * `--takeover` / `--takeover-from`: serve through the takeover machinery, so
 * the listener, the clients and the GOOD/BAD state can move to a new process.
 */
async function serveWithTakeover(
  cli: TcpservdCli,
  port: number,
): Promise<number> {
  const state = new HealthState(cli.initialState);
  const handler = cli.echo ? takeoverEchoHandler() : takeoverCommandHandler({
    state,
    control: controlPolicyOf(cli),
    framing: cli.framing,
    version: VERSION,
    hostname: cli.name ?? Deno.hostname(),
    badQuit: cli.badQuit,
    maxLine: cli.maxLine,
    maxLoops: cli.maxLoops,
  });
  // --max-conns: past it, new connections wait in the listen queue (the
  // takeover machinery pauses accepting; it has no refusal message).
  const maxConns = maxConnsOf(cli);
  const limits = maxConns > 0 ? { maxConnections: maxConns } : {};
  let server: TakeoverServer;
  if (cli.takeoverFrom !== undefined) {
    try {
      server = await TakeoverServer.takeOver(cli.takeoverFrom, {
        handler,
        ...limits,
        timeoutMs: cli.handoverTimeoutMs,
        restore: (snapshot) => restoreHealth(state, snapshot),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.error("takeover from {path} failed: {message}", {
        path: cli.takeoverFrom,
        message,
      });
      return error instanceof TakeoverRefusedError
        ? EXIT_TAKEOVER_REFUSED
        : EXIT_TAKEOVER_FAILED;
    }
    const info = server.tookOver!;
    log.info(
      "took over {connections} connections from {path} (pid {pid}) in {ms} ms",
      {
        connections: info.connections,
        path: info.path,
        pid: info.fromPid,
        ms: info.elapsedMs.toFixed(1),
      },
    );
  } else {
    try {
      server = activated === null
        ? TakeoverServer.listen({
          hostname: cli.address,
          port,
          backlog: cli.backlog,
          handler,
          ...limits,
        })
        : TakeoverServer.adopt(activated.map((socket) => socket.fd), {
          handler,
          ...limits,
        });
    } catch (error) {
      log.error("cannot listen on {addr}: {error}", {
        addr: formatHostPort(cli.address, port),
        error: error instanceof Error ? error.message : String(error),
      });
      return ExitCode.OS_ERROR;
    }
  }
  const cleanups = [
    onStopSignals(["SIGTERM", "SIGINT", "SIGQUIT"], (signal) => {
      log.info("{signal}: closing {count} connections", {
        signal,
        count: server.connectionCount,
      });
      notifier.stopping(
        `${signal}: closing ${server.connectionCount} connections`,
      );
      void server.close();
    }, forceOptions),
    onSignal("SIGUSR1", () => {
      log.info("handling {current} connections; handled {total} in total", {
        current: server.connectionCount,
        total: server.acceptedCount,
      });
    }),
  ];
  const offerPath = cli.takeoverPath ?? cli.takeoverFrom;
  if (offerPath !== undefined) {
    try {
      server.offer(offerPath, {
        timeoutMs: cli.handoverTimeoutMs,
        appState: () => healthSnapshot(state),
      });
      log.info("offering takeover on {path}", { path: offerPath });
    } catch (error) {
      log.error("cannot offer takeover on {path}: {error}", {
        path: offerPath,
        error: error instanceof Error ? error.message : String(error),
      });
      for (const cleanup of cleanups) cleanup();
      await server.close();
      return ExitCode.OS_ERROR;
    }
  }
  const { hostname, port: bound } = server.addr;
  log.info(`listening on ${formatHostPort(hostname, bound)}`);
  if (!cli.echo) log.info("state is {state}", { state: state.get() });
  cleanups.push(
    announceService(
      server.addrs.map((addr) => formatHostPort(addr.hostname, addr.port))
        .join(", "),
      () => server.connectionCount,
    ),
  );
  const outcome = await server.finished;
  for (const cleanup of cleanups) cleanup();
  log.info(outcome === "handed-over" ? "handed over: exiting" : "stopped");
  return ExitCode.OK;
}

/** The command that starts worker `id`, under `deno run` or as a compiled binary. */
function workerCommand(
  cli: TcpservdCli,
  port: number,
  id: number,
  statePath: string,
  sharedMetrics?: { count: number; path: string },
): Deno.Command {
  const args = workerArgs(cli, port, id, statePath, sharedMetrics);
  let argv: string[];
  if (Deno.build.standalone) {
    argv = args;
  } else {
    const main = Deno.mainModule;
    // Installed commands run outside the project: name its config explicitly.
    const config = main.startsWith("file:")
      // Decoded: a space or % in the path is escaped in the URL.
      ? ["--config", decodeURIComponent(new URL("../deno.json", main).pathname)]
      : [];
    argv = ["run", ...WORKER_FLAGS, ...config, main, ...args];
  }
  return new Deno.Command(Deno.execPath(), {
    args: argv,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  });
}

/** The master: reserve the port, share the state, keep the workers running. */
async function master(
  cli: TcpservdCli,
  port: number,
  count: number,
): Promise<number> {
  let reservation: PortReservation;
  try {
    // Held, never listened on: port 0 resolves once for all workers, and
    // the port stays ours while workers come and go.
    reservation = PortReservation.reserve(cli.address, port);
  } catch (error) {
    log.error("cannot listen on {addr}: {error}", {
      addr: formatHostPort(cli.address, port),
      error: error instanceof Error ? error.message : String(error),
    });
    return ExitCode.OS_ERROR;
  }
  const shared = SharedMemory.create(4, "tcpservd-state");
  shared.int32[0] = cli.initialState === "BAD" ? 1 : 0;
  const bound = reservation.port;
  // With --metrics the master serves the sums its workers write.
  let masterMetrics: import("./worker_metrics.ts").MasterMetrics | undefined;
  let metricsServer: { close(): Promise<void> } | undefined;
  if (cli.metrics !== undefined) {
    const { MasterMetrics } = await import("./worker_metrics.ts");
    const { serveMetrics } = await import("./server_metrics.ts");
    const commandMode = !cli.echo && !cli.buggy;
    masterMetrics = new MasterMetrics(
      count,
      commandMode ? new HealthState(undefined, shared.int32) : undefined,
      { commands: commandMode, faults: !epollEngineOf(cli) },
    );
    try {
      metricsServer = serveMetrics(
        cli.metrics,
        masterMetrics.registry,
        "tcpservd",
      );
    } catch (error) {
      log.error("cannot serve metrics on {addr}: {error}", {
        addr: formatHostPort(cli.metrics.hostname, cli.metrics.port),
        error: error instanceof Error ? error.message : String(error),
      });
      masterMetrics.close();
      reservation.close();
      shared.close();
      return ExitCode.OS_ERROR;
    }
  }
  const region = masterMetrics && { count, path: masterMetrics.path };
  const supervisor = new WorkerSupervisor({
    count,
    spawn: (id) => {
      const child = workerCommand(cli, bound, id, shared.path, region)
        .spawn();
      // A dead worker's connections are gone: its gauges go to 0.
      if (masterMetrics) {
        void child.status.then(() => masterMetrics?.workerExited(id));
      }
      return child;
    },
  });
  const cleanups = [
    onStopSignals(["SIGTERM", "SIGINT", "SIGQUIT"], (signal) => {
      log.info("{signal}: stopping {count} workers", { signal, count });
      notifier.stopping(`${signal}: stopping ${count} workers`);
      void supervisor.stop();
    }, forceOptions),
    onSignal("SIGUSR1", () => supervisor.signal("SIGUSR1")),
    onSignal("SIGHUP", () => supervisor.signal("SIGHUP")),
  ];
  try {
    await supervisor.start();
    log.info("{count} workers ready; state is {state}", {
      count,
      state: shared.int32[0] === 1 ? "BAD" : "GOOD",
    });
    log.info(`listening on ${formatHostPort(cli.address, bound)}`);
    notifier.ready(
      `serving on ${formatHostPort(cli.address, bound)} with ${count} workers`,
    );
    cleanups.push(
      notifier.keepAlive(() =>
        `serving on ${formatHostPort(cli.address, bound)} with ${count} workers`
      ),
    );
  } catch {
    // Stopped or crash-looping before all were ready: the outcome says which.
  }
  const outcome = await supervisor.finished;
  for (const cleanup of cleanups) cleanup();
  await metricsServer?.close();
  masterMetrics?.close();
  reservation.close();
  shared.close();
  if (outcome === "crash-loop") {
    log.error("workers crash in a loop: giving up");
    return ExitCode.SOFTWARE;
  }
  log.info("all workers stopped");
  return ExitCode.OK;
}

/** Runs tcpservd with the given arguments; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const cli = commandPrologue({
    name: "tcpservd",
    usage: TCPSERVD_USAGE,
    parse: parseTcpservdArgs,
  }, args);
  if (typeof cli === "number") return cli;
  setupLogging({
    debug: cli.debug,
    format: cli.logFormat,
    ...(cli.workerId === undefined ? {} : { label: `worker-${cli.workerId}` }),
  });
  // Read and removed before any child starts: workers and daemons must
  // neither notify in our name nor take our sockets.
  notifier = ServiceNotifier.fromEnv();
  try {
    activated = takeActivatedSockets();
  } catch (error) {
    if (!(error instanceof SocketActivationError)) throw error;
    log.error("socket activation: {message}", { message: error.message });
    return ExitCode.USAGE;
  }
  if (activated !== null) {
    const problem = activationProblem(cli, activated);
    if (problem !== undefined) {
      log.error(
        "socket activation: cannot serve the {count} socket(s) systemd passed: {problem}",
        { count: activated.length, problem },
      );
      return ExitCode.USAGE;
    }
    log.info("socket activation: serving {sockets}", {
      sockets: activated.map((socket) =>
        `fd ${socket.fd} "${socket.name}" ${
          formatHostPort(socket.addr.hostname, socket.addr.port)
        }`
      ).join(", "),
    });
    return cli.takeoverPath === undefined
      ? await serve(cli, 0)
      : await serveWithTakeover(cli, 0);
  }
  if (cli.takeoverFrom !== undefined) return await serveWithTakeover(cli, 0);
  const port = resolvePort(cli);
  if (cli.takeoverPath !== undefined) return await serveWithTakeover(cli, port);
  const count = cli.workers === 0 ? navigator.hardwareConcurrency : cli.workers;
  if (cli.workerId === undefined && count > 1) {
    return await master(cli, port, count);
  }
  return await serve(cli, port);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
