/**
 * tcpservd's Prometheus metrics: connections, commands by name, the health
 * state, faults applied, startloops. Loaded by `main.ts` only when
 * `--metrics` is given (a dynamic import), so a tcpservd without it starts
 * as fast as before.
 *
 * One process only: with `-w N` each worker has its own counts, and the
 * command line refuses `--metrics` there rather than serve one worker's
 * numbers (or zeros) as if they were the server's.
 */
import {
  type Counter,
  type Gauge,
  registerProcessMetrics,
  Registry,
} from "../metrics/mod.ts";
import type { ListeningServer } from "../net/listening_server.ts";
import type { CommandObserver } from "./command_session.ts";
import type { Command } from "./commands.ts";
import type { FaultSet } from "./fault_set.ts";
import { FAULT_NAMES } from "./fault_spec.ts";
import type { HealthState } from "./health_state.ts";

// Every command name, checked against the Command type: a new command
// fails to type-check here until it has its series.
const COMMAND_SET: Record<Command["name"], true> = {
  help: true,
  version: true,
  hostname: true,
  getstatus: true,
  setbad: true,
  setgood: true,
  setdrain: true,
  setready: true,
  agentstatus: true,
  quit: true,
  startloop: true,
  setweight: true,
  setmaxconn: true,
  fault: true,
  error: true,
  echo: true,
};

/** The `command` label values: every name the command parser gives. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMAND_SET);
/** The label value for a name not in {@linkcode COMMAND_NAMES} (none today). */
export const OTHER_COMMAND = "other";

/** What the metrics read at each scrape. */
export interface TcpservdMetricsSources {
  /** The serving engine: connection counts. */
  server: ListeningServer;
  /** The health state (the command mode's); none: no health series. */
  state?: HealthState;
  /** The server's faults (not with the epoll engine); none: no fault series. */
  faults?: FaultSet;
}

/**
 * The metrics of one tcpservd process. Give it to the command protocol as
 * its observer, then {@linkcode TcpservdMetrics.watch} the server.
 */
export class TcpservdMetrics implements CommandObserver {
  /** Every series, for the endpoint. */
  readonly registry: Registry = new Registry();
  readonly #commands: Counter | undefined;
  readonly #loopsStarted: Counter | undefined;
  readonly #loopsRunning: Gauge | undefined;
  #faultsApplied: Counter | undefined;

  /**
   * @param options.commands The command mode: count commands and startloops
   * (echo and buggy modes have neither). @default {true}
   */
  constructor(options: { commands?: boolean } = {}) {
    registerProcessMetrics(this.registry);
    if (options.commands === false) return;
    this.#commands = this.registry.counter({
      name: "tcpservd_commands",
      help:
        "Request lines received, by command (echo: a line that is no command; error: a malformed one).",
      labelNames: ["command"],
    });
    // Every command at 0 from the start: rate() needs the series before the event.
    for (const command of COMMAND_NAMES) this.#commands.inc({ command }, 0);
    this.#loopsStarted = this.registry.counter({
      name: "tcpservd_startloops",
      help: "startloop commands that started burning CPU.",
    });
    this.#loopsRunning = this.registry.gauge({
      name: "tcpservd_startloops_running",
      help: "startloop commands burning CPU now.",
    });
  }

  /** Counts a command by name. */
  command(name: string): void {
    this.#commands?.inc({ command: name });
  }

  /** Counts a startloop, and how many run. */
  loops(running: number, started: boolean): void {
    if (started) this.#loopsStarted?.inc();
    this.#loopsRunning?.set(running);
  }

  /** Adds the series read from the server, its state and its faults. */
  watch(sources: TcpservdMetricsSources): void {
    const { server, state, faults } = sources;
    registerServerSeries(this.registry, {
      open: () => server.connectionCount,
      accepted: () => server.acceptedCount,
      refused: () => server.refusedCount,
      ...(state !== undefined ? { state } : {}),
    });
    if (faults !== undefined) {
      const applied = this.registry.counter({
        name: "tcpservd_faults_applied",
        help: "Faults applied to a connection, by kind.",
        labelNames: ["fault"],
      });
      this.#faultsApplied = applied;
      faults.onApplied((fault) => applied.inc({ fault }));
      this.registry.gauge({
        name: "tcpservd_faults_active",
        help:
          "Faults in force for new connections (fault SPEC, --fault), by kind.",
        labelNames: ["fault"],
        collect: () =>
          FAULT_NAMES.map((name) =>
            [
              { fault: name },
              faults.list().filter((f) => f.spec.name === name).length,
            ] as const
          ),
      });
      // Every kind at 0 from the start: rate() needs the series before the event.
      for (const name of FAULT_NAMES) applied.inc({ fault: name }, 0);
    }
  }

  /** Faults applied so far of one kind (for tests). */
  faultsApplied(fault: string): number {
    return this.#faultsApplied?.value({ fault }) ?? 0;
  }
}

export { serveMetrics } from "../metrics/serve_metrics.ts";

/** Where the connection counts and the health state come from. */
export interface ServerSeriesSources {
  /** Connections open now. */
  open: () => number;
  /** Connections accepted since start. */
  accepted: () => number;
  /** Connections refused since start. */
  refused: () => number;
  /** The health state, in the command mode. */
  state?: HealthState;
}

/**
 * Registers the connection series and the health gauge, read from
 * `sources` at each scrape: one process's own counts, or a master's sums
 * over its workers.
 */
export function registerServerSeries(
  registry: Registry,
  sources: ServerSeriesSources,
): void {
  registry.gauge({
    name: "tcpservd_connections_open",
    help: "Client connections open now.",
    collect: sources.open,
  });
  registry.counter({
    name: "tcpservd_connections_accepted",
    help: "Client connections accepted and served since start.",
    collect: sources.accepted,
  });
  registry.counter({
    name: "tcpservd_connections_refused",
    help: "Client connections refused at the connection limit since start.",
    collect: sources.refused,
  });
  const state = sources.state;
  if (state === undefined) return;
  registry.gauge({
    name: "tcpservd_health",
    help:
      "The health state clients read with getstatus: 1 for the current one.",
    labelNames: ["state"],
    collect: () => {
      const now = state.get();
      return [
        [{ state: "GOOD" }, now === "GOOD" ? 1 : 0],
        [{ state: "BAD" }, now === "BAD" ? 1 : 0],
      ];
    },
  });
}
