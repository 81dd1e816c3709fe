/**
 * `tcpservd`: a test TCP server whose health (GOOD/BAD) is flipped by its
 * clients, for proving that load balancers and cluster monitors react; with
 * `--echo`, a byte-transparent echo server; with `-w N`, a master and N
 * worker processes on one port (SO_REUSEPORT, or the one socket systemd
 * passed, which the master hands to each worker).
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
  errorMessage,
  ExitCode,
  type ExitCodeValue,
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
import {
  type ConnectionHandler,
  TakeoverRefusedError,
  TakeoverServer,
} from "../takeover/mod.ts";
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
import type { CommandObserver } from "./command_session.ts";
import { Tcpservd, type TcpservdOptions } from "./tcpservd.ts";
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
import { ListenerHandOff, receiveListener } from "./worker_listener.ts";
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
 * engine, `FdListener` under the others, the takeover machinery; with
 * `-w N` each worker gets a copy from the master), but only the takeover
 * machinery serves more than one socket.
 */
function activationProblem(
  cli: TcpservdCli,
  sockets: readonly ActivatedSocket[],
): string | undefined {
  if (cli.takeoverFrom !== undefined) {
    return "--takeover-from takes the listener from the old process";
  }
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

/** The metrics of one serving process: its own (--metrics), or its share of its master's. */
interface ServeMetrics {
  module: typeof import("./server_metrics.ts") | undefined;
  own: import("./server_metrics.ts").TcpservdMetrics | undefined;
  worker: import("./worker_metrics.ts").WorkerMetricsWriter | undefined;
}

/** Loads the metrics code, only when asked for, so start-up without it does not pay for it. */
async function openServeMetrics(
  cli: TcpservdCli,
): Promise<ServeMetrics | ExitCodeValue> {
  const module = cli.metrics === undefined
    ? undefined
    : await import("./server_metrics.ts");
  const own = module &&
    new module.TcpservdMetrics({ commands: !cli.echo && !cli.buggy });
  // A worker of a master serving --metrics counts into the master's region.
  if (cli.sharedMetrics === undefined || cli.workerId === undefined) {
    return { module, own, worker: undefined };
  }
  const { WorkerMetricsWriter } = await import("./worker_metrics.ts");
  try {
    const { path, count } = cli.sharedMetrics;
    const worker = new WorkerMetricsWriter(path, cli.workerId, count);
    return { module, own, worker };
  } catch (error) {
    log.error("cannot open the master's metrics: {error}", {
      error: errorMessage(error),
    });
    return ExitCode.OS_ERROR;
  }
}

/** The engine's options, as the command line asks. */
function tcpservdOptions(
  cli: TcpservdCli,
  port: number,
  faults: FaultSet,
  agent: AgentState | undefined,
  observer: CommandObserver | undefined,
  shared: SharedMemory | undefined,
  listenFd: number | undefined,
): TcpservdOptions {
  return {
    mode: cli.buggy ? "buggy" : cli.echo ? "echo" : "command",
    // The fastest echo, unless faults need the Deno.listen engine.
    engine: cli.engine ??
      (cli.echo && cli.faults.length === 0 ? "epoll" : "deno"),
    faults,
    control: controlPolicyOf(cli),
    framing: cli.framing,
    leakBits: cli.leakBits,
    linger: cli.linger,
    ...(cli.name === undefined ? {} : { serverName: cli.name }),
    ...(agent ? { agent } : {}),
    ...(observer ? { commandObserver: observer } : {}),
    hostname: cli.address,
    port,
    reusePort: cli.workerId !== undefined,
    ...(listenFd === undefined ? {} : { listenFd }),
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
  };
}

/** One serving process's engine, and the master's shared state it reads. */
interface Engine {
  server: Tcpservd;
  shared: SharedMemory | undefined;
}

/** Opens the shared state and starts the engine listening (or on `listenFd`); logs why not. */
function startEngine(
  cli: TcpservdCli,
  port: number,
  listenFd: number | undefined,
  faults: FaultSet,
  agent: AgentState | undefined,
  observer: CommandObserver | undefined,
): Engine | ExitCodeValue {
  let shared: SharedMemory | undefined;
  try {
    if (cli.sharedState !== undefined) {
      shared = SharedMemory.open(cli.sharedState, 4);
    }
    for (const spec of cli.faults) faults.add(parseFaultSpec(spec));
    const server = new Tcpservd(
      tcpservdOptions(cli, port, faults, agent, observer, shared, listenFd),
    );
    return { server, shared };
  } catch (error) {
    shared?.close();
    log.error("cannot listen on {addr}: {error}", {
      addr: formatHostPort(cli.address, port),
      error: errorMessage(error),
    });
    return ExitCode.OS_ERROR;
  }
}

/** Feeds the metrics from the engine and serves --metrics; `null` (logged) if it cannot. */
function serveProcessMetrics(
  cli: TcpservdCli,
  server: Tcpservd,
  faults: FaultSet,
  metrics: ServeMetrics,
): { close(): Promise<void> } | undefined | null {
  // The epoll engine (the echo default) cannot inject faults: no series.
  const faultsToCount = epollEngineOf(cli) ? undefined : faults;
  metrics.worker?.watch(server.server, faultsToCount);
  if (!metrics.module || !metrics.own || !cli.metrics) return undefined;
  metrics.own.watch({
    server: server.server,
    ...(cli.echo || cli.buggy ? {} : { state: server.state }),
    ...(faultsToCount ? { faults: faultsToCount } : {}),
  });
  try {
    return metrics.module.serveMetrics(
      cli.metrics,
      metrics.own.registry,
      "tcpservd",
    );
  } catch (error) {
    log.error("cannot serve metrics on {addr}: {error}", {
      addr: formatHostPort(cli.metrics.hostname, cli.metrics.port),
      error: errorMessage(error),
    });
    return null;
  }
}

/**
 * Starts the HAProxy agent-check responder on the address the server
 * serves (a socket systemd passed included: `-a` is ignored then); `null`
 * (logged) if it cannot listen.
 */
function startAgent(
  cli: TcpservdCli,
  server: Tcpservd,
  agent: AgentState,
): AgentResponder | null {
  const hostname = server.addr.hostname;
  try {
    return new AgentResponder({
      hostname,
      port: cli.agentPort!,
      state: server.state,
      agent,
    });
  } catch (error) {
    log.error("cannot listen for the agent on {addr}: {error}", {
      addr: formatHostPort(hostname, cli.agentPort!),
      error: errorMessage(error),
    });
    return null;
  }
}

/** The stop, count and fault-clearing signals of one serving process; returns their cleanups. */
function serveSignals(
  cli: TcpservdCli,
  server: Tcpservd,
  faults: FaultSet,
  responder: AgentResponder | undefined,
): (() => void)[] {
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
  const cleanups = [
    onStopSignals(
      cli.workerId === undefined
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
  if (cli.workerId !== undefined) {
    // The master tells INT to every worker itself; a terminal's Ctrl-C reaches us too.
    cleanups.push(
      onSignal("SIGINT", () => log.debug("SIGINT ignored: the master decides")),
    );
    watchMaster(() => stop("master gone"));
  }
  return cleanups;
}

/** Says that the process serves: to the log and systemd, or to the master; returns a cleanup. */
function announceServing(
  cli: TcpservdCli,
  server: Tcpservd,
  agent: AgentState | undefined,
  responder: AgentResponder | undefined,
): () => void {
  const { hostname, port: bound } = server.addr;
  const tcp = server.server;
  if (cli.workerId !== undefined) {
    log.info("worker {worker} (pid {pid}) accepting on {addr}", {
      worker: cli.workerId,
      pid: Deno.pid,
      addr: formatHostPort(hostname, bound),
    });
    announceReady();
    return () => {};
  }
  log.info(`listening on ${formatHostPort(hostname, bound)}`);
  if (!cli.echo) log.info("state is {state}", { state: server.state.get() });
  const cleanup = announceService(
    formatHostPort(hostname, bound),
    () => tcp.connectionCount,
  );
  if (responder) {
    const { hostname: host, port: agentPort } = responder.addr;
    log.info("agent-check on {addr}: {line}", {
      addr: formatHostPort(host, agentPort),
      line: agent!.line(server.state).trim(),
    });
  }
  return cleanup;
}

/**
 * The listening socket to serve instead of listening: the one systemd
 * passed, or a worker's copy of it from its master; `null` (logged) when
 * the master's could not be had.
 */
async function passedListenFd(
  cli: TcpservdCli,
): Promise<number | undefined | null> {
  if (activated !== null) return activated[0]!.fd;
  if (cli.listenerFrom === undefined) return undefined;
  try {
    return await receiveListener(cli.listenerFrom);
  } catch (error) {
    log.error("cannot take the listener from the master: {error}", {
      error: errorMessage(error),
    });
    return null;
  }
}

/** One serving process: the whole server (no master), or one worker. */
async function serve(cli: TcpservdCli, port: number): Promise<number> {
  const listenFd = await passedListenFd(cli);
  if (listenFd === null) return ExitCode.OS_ERROR;
  const metrics = await openServeMetrics(cli);
  if (typeof metrics === "number") return metrics;
  const faults = new FaultSet();
  const agent = cli.agentPort === undefined
    ? undefined
    : new AgentState(cli.agentBad);
  const engine = startEngine(
    cli,
    port,
    listenFd,
    faults,
    agent,
    metrics.own ?? metrics.worker,
  );
  if (typeof engine === "number") return engine;
  const { server, shared } = engine;
  const metricsServer = serveProcessMetrics(cli, server, faults, metrics);
  const responder = metricsServer === null || agent === undefined
    ? undefined
    : startAgent(cli, server, agent);
  if (metricsServer === null || responder === null) {
    await server.shutdown();
    await metricsServer?.close();
    shared?.close();
    return ExitCode.OS_ERROR;
  }
  // Signals first: a supervisor may signal as soon as it reads the line.
  const cleanups = serveSignals(cli, server, faults, responder);
  cleanups.push(announceServing(cli, server, agent, responder));
  const tcp = server.server;
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

/** What every way of starting a takeover server passes on: the handler and the limit. */
interface TakeoverParts {
  handler: ConnectionHandler;
  maxConnections?: number;
}

/** The handler of a takeover-capable tcpservd: echo, or the commands on the shared state. */
function takeoverHandlerOf(
  cli: TcpservdCli,
  state: HealthState,
): ConnectionHandler {
  return cli.echo ? takeoverEchoHandler() : takeoverCommandHandler({
    state,
    control: controlPolicyOf(cli),
    framing: cli.framing,
    version: VERSION,
    hostname: cli.name ?? Deno.hostname(),
    badQuit: cli.badQuit,
    maxLine: cli.maxLine,
    maxLoops: cli.maxLoops,
  });
}

/** `--takeover-from PATH`: takes the server over; logs and returns an exit code if not. */
async function takeOverTcpservd(
  from: string,
  cli: TcpservdCli,
  parts: TakeoverParts,
  state: HealthState,
): Promise<TakeoverServer | number> {
  let server: TakeoverServer;
  try {
    server = await TakeoverServer.takeOver(from, {
      ...parts,
      timeoutMs: cli.handoverTimeoutMs,
      restore: (snapshot) => restoreHealth(state, snapshot),
    });
  } catch (error) {
    const message = errorMessage(error);
    log.error("takeover from {path} failed: {message}", {
      path: from,
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
  return server;
}

/** Listens on `-a`/`-p`, or adopts the sockets systemd passed; logs and returns an exit code if not. */
function listenTakeover(
  cli: TcpservdCli,
  port: number,
  parts: TakeoverParts,
): TakeoverServer | number {
  try {
    return activated === null
      ? TakeoverServer.listen({
        hostname: cli.address,
        port,
        backlog: cli.backlog,
        ...parts,
      })
      : TakeoverServer.adopt(activated.map((socket) => socket.fd), parts);
  } catch (error) {
    log.error("cannot listen on {addr}: {error}", {
      addr: formatHostPort(cli.address, port),
      error: errorMessage(error),
    });
    return ExitCode.OS_ERROR;
  }
}

/** The takeover server's stop and count signals; returns their cleanups. */
function takeoverSignals(server: TakeoverServer): (() => void)[] {
  return [
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
}

/** Offers the server on PATH to a next process; `false` (logged) if it cannot. */
function offerTcpservd(
  path: string,
  cli: TcpservdCli,
  server: TakeoverServer,
  state: HealthState,
): boolean {
  try {
    server.offer(path, {
      timeoutMs: cli.handoverTimeoutMs,
      appState: () => healthSnapshot(state),
    });
    log.info("offering takeover on {path}", { path });
    return true;
  } catch (error) {
    log.error("cannot offer takeover on {path}: {error}", {
      path,
      error: errorMessage(error),
    });
    return false;
  }
}

/**
 * `--takeover` / `--takeover-from`: serve through the takeover machinery, so
 * the listener, the clients and the GOOD/BAD state can move to a new process.
 */
async function serveWithTakeover(
  cli: TcpservdCli,
  port: number,
): Promise<number> {
  const state = new HealthState(cli.initialState);
  // --max-conns: past it, new connections wait in the listen queue (the
  // takeover machinery pauses accepting; it has no refusal message).
  const maxConns = maxConnsOf(cli);
  const parts: TakeoverParts = {
    handler: takeoverHandlerOf(cli, state),
    ...(maxConns > 0 ? { maxConnections: maxConns } : {}),
  };
  const server = cli.takeoverFrom !== undefined
    ? await takeOverTcpservd(cli.takeoverFrom, cli, parts, state)
    : listenTakeover(cli, port, parts);
  if (typeof server === "number") return server;
  const cleanups = takeoverSignals(server);
  const offerPath = cli.takeoverPath ?? cli.takeoverFrom;
  if (
    offerPath !== undefined && !offerTcpservd(offerPath, cli, server, state)
  ) {
    for (const cleanup of cleanups) cleanup();
    await server.close();
    return ExitCode.OS_ERROR;
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
  listenerFrom?: string,
): Deno.Command {
  const args = workerArgs(
    cli,
    port,
    id,
    statePath,
    sharedMetrics,
    listenerFrom,
  );
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

/** The master's metrics: the sums its workers write, served on --metrics. */
interface MasterMetricsServer {
  metrics: import("./worker_metrics.ts").MasterMetrics;
  server: { close(): Promise<void> };
}

/** Serves the workers' sums on --metrics, if asked; logs and returns an exit code if it cannot. */
async function serveMasterMetrics(
  cli: TcpservdCli,
  count: number,
  shared: SharedMemory,
): Promise<MasterMetricsServer | undefined | ExitCodeValue> {
  if (cli.metrics === undefined) return undefined;
  const { MasterMetrics } = await import("./worker_metrics.ts");
  const { serveMetrics } = await import("./server_metrics.ts");
  const commandMode = !cli.echo && !cli.buggy;
  const metrics = new MasterMetrics(
    count,
    commandMode ? new HealthState(undefined, shared.int32) : undefined,
    { commands: commandMode, faults: !epollEngineOf(cli) },
  );
  try {
    return {
      metrics,
      server: serveMetrics(cli.metrics, metrics.registry, "tcpservd"),
    };
  } catch (error) {
    log.error("cannot serve metrics on {addr}: {error}", {
      addr: formatHostPort(cli.metrics.hostname, cli.metrics.port),
      error: errorMessage(error),
    });
    metrics.close();
    return ExitCode.OS_ERROR;
  }
}

/** The supervisor of `count` workers, each started on the workers' listener with the shared state. */
function workerSupervisor(
  cli: TcpservdCli,
  listener: WorkersListener,
  count: number,
  shared: SharedMemory,
  masterMetrics: import("./worker_metrics.ts").MasterMetrics | undefined,
): WorkerSupervisor {
  const region = masterMetrics && { count, path: masterMetrics.path };
  return new WorkerSupervisor({
    count,
    spawn: (id) => {
      const child = workerCommand(
        cli,
        listener.port,
        id,
        shared.path,
        region,
        listener.handOffPath,
      ).spawn();
      // A dead worker's connections are gone: its gauges go to 0.
      if (masterMetrics) {
        void child.status.then(() => masterMetrics.workerExited(id));
      }
      return child;
    },
  });
}

/** The master's signals: stop the workers, or pass USR1 and HUP on; returns their cleanups. */
function masterSignals(
  supervisor: WorkerSupervisor,
  count: number,
): (() => void)[] {
  return [
    onStopSignals(["SIGTERM", "SIGINT", "SIGQUIT"], (signal) => {
      log.info("{signal}: stopping {count} workers", { signal, count });
      notifier.stopping(`${signal}: stopping ${count} workers`);
      void supervisor.stop();
    }, forceOptions),
    onSignal("SIGUSR1", () => supervisor.signal("SIGUSR1")),
    onSignal("SIGHUP", () => supervisor.signal("SIGHUP")),
  ];
}

/** Starts the workers and, once each is ready, tells the log and systemd; returns a cleanup. */
async function startWorkers(
  supervisor: WorkerSupervisor,
  count: number,
  addr: string,
  shared: SharedMemory,
): Promise<() => void> {
  try {
    await supervisor.start();
  } catch {
    // Stopped or crash-looping before all were ready: the outcome says which.
    return () => {};
  }
  log.info("{count} workers ready; state is {state}", {
    count,
    state: shared.int32[0] === 1 ? "BAD" : "GOOD",
  });
  log.info(`listening on ${addr}`);
  notifier.ready(`serving on ${addr} with ${count} workers`);
  return notifier.keepAlive(() => `serving on ${addr} with ${count} workers`);
}

/** Where the workers listen: a port the master holds, or the socket systemd passed. */
interface WorkersListener {
  /** The address, for the log and systemd's status. */
  hostname: string;
  /** The port, for the workers' `-p`. */
  port: number;
  /** The master's socket that hands out the passed listener, if that is it. */
  handOffPath: string | undefined;
  /** Lets the port go, or stops handing out (and removes the socket). */
  close(): Promise<void>;
}

/** Reserves the port for the workers to listen on with SO_REUSEPORT; logs why not. */
function reserveWorkersPort(
  cli: TcpservdCli,
  port: number,
): WorkersListener | ExitCodeValue {
  try {
    // Held, never listened on: port 0 resolves once for all workers, and
    // the port stays ours while workers come and go.
    const reservation = PortReservation.reserve(cli.address, port);
    return {
      hostname: cli.address,
      port: reservation.port,
      handOffPath: undefined,
      close: () => Promise.resolve(reservation.close()),
    };
  } catch (error) {
    log.error("cannot listen on {addr}: {error}", {
      addr: formatHostPort(cli.address, port),
      error: errorMessage(error),
    });
    return ExitCode.OS_ERROR;
  }
}

/**
 * Keeps the socket systemd passed, never accepting on it, and hands a copy
 * to each running worker that asks (respawned ones too); logs why not.
 */
function handOutPassedSocket(
  socket: ActivatedSocket,
  isWorker: (pid: number) => boolean,
): WorkersListener | ExitCodeValue {
  try {
    const handOff = ListenerHandOff.open({ listenFd: socket.fd, isWorker });
    log.debug("handing the passed socket to the workers on {path}", {
      path: handOff.path,
    });
    return {
      hostname: socket.addr.hostname,
      port: socket.addr.port,
      handOffPath: handOff.path,
      close: () => handOff.close(),
    };
  } catch (error) {
    log.error("cannot hand the passed socket to workers: {error}", {
      error: errorMessage(error),
    });
    return ExitCode.OS_ERROR;
  }
}

/** The master: hold the port (or the passed socket), share the state, keep the workers running. */
async function master(
  cli: TcpservdCli,
  port: number,
  count: number,
): Promise<number> {
  // Set below, before any worker runs: until then nobody is a worker.
  const workers = { pids: (): number[] => [] };
  const listener = activated === null
    ? reserveWorkersPort(cli, port)
    : handOutPassedSocket(
      activated[0]!,
      (pid) => workers.pids().includes(pid),
    );
  if (typeof listener === "number") return listener;
  const shared = SharedMemory.create(4, "tcpservd-state");
  shared.int32[0] = cli.initialState === "BAD" ? 1 : 0;
  const metrics = await serveMasterMetrics(cli, count, shared);
  if (typeof metrics === "number") {
    await listener.close();
    shared.close();
    return metrics;
  }
  const supervisor = workerSupervisor(
    cli,
    listener,
    count,
    shared,
    metrics?.metrics,
  );
  workers.pids = () => supervisor.pids;
  const cleanups = masterSignals(supervisor, count);
  cleanups.push(
    await startWorkers(
      supervisor,
      count,
      formatHostPort(listener.hostname, listener.port),
      shared,
    ),
  );
  const outcome = await supervisor.finished;
  for (const cleanup of cleanups) cleanup();
  await metrics?.server.close();
  metrics?.metrics.close();
  await listener.close();
  shared.close();
  if (outcome === "crash-loop") {
    log.error("workers crash in a loop: giving up");
    return ExitCode.SOFTWARE;
  }
  log.info("all workers stopped");
  return ExitCode.OK;
}

/** How many workers `-w` asks for: 0 is one per CPU. */
function workerCount(cli: TcpservdCli): number {
  return cli.workers === 0 ? navigator.hardwareConcurrency : cli.workers;
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
    if (cli.takeoverPath !== undefined) return await serveWithTakeover(cli, 0);
    const count = workerCount(cli);
    return cli.workerId === undefined && count > 1
      ? await master(cli, 0, count)
      : await serve(cli, 0);
  }
  if (cli.takeoverFrom !== undefined) return await serveWithTakeover(cli, 0);
  const port = resolvePort(cli);
  if (cli.takeoverPath !== undefined) return await serveWithTakeover(cli, port);
  const count = workerCount(cli);
  if (cli.workerId === undefined && count > 1) {
    return await master(cli, port, count);
  }
  return await serve(cli, port);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
