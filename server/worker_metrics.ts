/**
 * Metrics of master + N workers, summed by the master. Each worker writes
 * its counts into its own slot of a memory region the master shares with
 * it (as the health state is shared); the master serves `/metrics` with the
 * sums, so a scrape sees the whole server, not one worker.
 *
 * A slot is a fixed row of float64 values, written by one process only (a
 * worker id runs one process at a time: the supervisor respawns only after
 * an exit), read by the master. Aligned 8-byte stores are not torn on the
 * platforms Deno runs on, so no lock is needed. Event counts (commands,
 * faults applied, startloops) go into the slot as they happen; connection
 * counts, which the engines keep themselves, are copied every
 * {@linkcode PUBLISH_INTERVAL_MS} (a scrape may be that much behind). A
 * respawned worker continues the counters of its slot, so totals never go
 * down; the master zeroes a dead worker's gauges when it exits.
 */
import { SharedMemory } from "../ffi/mod.ts";
import { registerProcessMetrics, Registry } from "../metrics/mod.ts";
import type { ListeningServer } from "../net/listening_server.ts";
import type { CommandObserver } from "./command_session.ts";
import type { FaultSet } from "./fault_set.ts";
import { FAULT_NAMES } from "./fault_spec.ts";
import type { HealthState } from "./health_state.ts";
import {
  COMMAND_NAMES,
  OTHER_COMMAND,
  registerServerSeries,
} from "./server_metrics.ts";

/** How often a worker copies its connection counts into its slot, in ms. */
export const PUBLISH_INTERVAL_MS = 200;

// The slot's layout: one float64 per value, in this order.
const SCALARS = [
  "open",
  "accepted",
  "refused",
  "loopsStarted",
  "loopsRunning",
] as const;
const COMMANDS = [...COMMAND_NAMES, OTHER_COMMAND];
const OFFSET = {
  scalar: (name: typeof SCALARS[number]) => SCALARS.indexOf(name),
  command: (i: number) => SCALARS.length + i,
  applied: (i: number) => SCALARS.length + COMMANDS.length + i,
  active: (i: number) =>
    SCALARS.length + COMMANDS.length + FAULT_NAMES.length + i,
};
/** Values per slot. */
const SLOT_VALUES = SCALARS.length + COMMANDS.length + 2 * FAULT_NAMES.length;

/** Bytes of the region for `count` workers. */
export function metricsRegionSize(count: number): number {
  return count * SLOT_VALUES * 8;
}

function slotView(region: SharedMemory, index: number): Float64Array {
  return new Float64Array(
    region.bytes.buffer,
    region.bytes.byteOffset + index * SLOT_VALUES * 8,
    SLOT_VALUES,
  );
}

/**
 * A worker's side: counts into slot `workerId - 1`. Give it to the command
 * protocol as its observer, then {@linkcode WorkerMetricsWriter.watch} the
 * server.
 */
export class WorkerMetricsWriter implements CommandObserver {
  readonly #region: SharedMemory;
  readonly #slot: Float64Array;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Opens the master's region and takes the worker's slot.
   *
   * @throws {RangeError} For a worker id outside the region.
   * @throws {ErrnoError} When the region cannot be opened.
   */
  constructor(path: string, workerId: number, count: number) {
    if (workerId < 1 || workerId > count) {
      throw new RangeError(
        `Worker ${workerId} has no metrics slot (1 to ${count})`,
      );
    }
    this.#region = SharedMemory.open(path, metricsRegionSize(count));
    this.#slot = slotView(this.#region, workerId - 1);
  }

  /** Counts a command by name (unknown names as `other`). */
  command(name: string): void {
    const index = COMMANDS.indexOf(name);
    this.#slot[OFFSET.command(index < 0 ? COMMANDS.length - 1 : index)]! += 1;
  }

  /** Counts a startloop, and how many run. */
  loops(running: number, started: boolean): void {
    if (started) this.#slot[OFFSET.scalar("loopsStarted")]! += 1;
    this.#slot[OFFSET.scalar("loopsRunning")] = running;
  }

  /**
   * Publishes the server's counts now and every
   * {@linkcode PUBLISH_INTERVAL_MS}; counts faults as they are applied.
   */
  watch(server: ListeningServer, faults: FaultSet | undefined): void {
    const slot = this.#slot;
    // A respawned worker continues its predecessor's totals.
    const acceptedBase = slot[OFFSET.scalar("accepted")]!;
    const refusedBase = slot[OFFSET.scalar("refused")]!;
    faults?.onApplied((fault) => {
      slot[OFFSET.applied(FAULT_NAMES.indexOf(fault))]! += 1;
    });
    const publish = () => {
      slot[OFFSET.scalar("open")] = server.connectionCount;
      slot[OFFSET.scalar("accepted")] = acceptedBase + server.acceptedCount;
      slot[OFFSET.scalar("refused")] = refusedBase + server.refusedCount;
      FAULT_NAMES.forEach((name, i) => {
        slot[OFFSET.active(i)] = faults?.list().filter((f) =>
          f.spec.name === name
        ).length ?? 0;
      });
    };
    publish();
    const timer = setInterval(publish, PUBLISH_INTERVAL_MS);
    this.#timer = timer;
    // Publishing never keeps a worker alive.
    Deno.unrefTimer(timer);
    server.finished.then(() => {
      publish();
      slot[OFFSET.scalar("open")] = 0;
      this.close();
    });
  }

  /** Stops publishing and unmaps the region. */
  close(): void {
    clearInterval(this.#timer);
    this.#region.close();
  }
}

/**
 * The master's side: the region it shares with its workers, and the
 * registry of their sums (plus the shared health state).
 */
export class MasterMetrics {
  /** Every series, for the endpoint. */
  readonly registry: Registry = new Registry();
  readonly #region: SharedMemory;
  readonly #count: number;
  #closed = false;

  /**
   * Creates the region for `count` workers.
   *
   * @param options.commands The command mode: command and startloop series.
   * @param options.faults The engine can inject faults: fault series.
   */
  constructor(
    count: number,
    state: HealthState | undefined,
    options: { commands: boolean; faults: boolean },
  ) {
    this.#count = count;
    this.#region = SharedMemory.create(
      metricsRegionSize(count),
      "tcpservd-metrics",
    );
    const r = this.registry;
    registerProcessMetrics(r);
    const sum = (offset: number) => {
      let total = 0;
      for (let i = 0; i < count; i++) {
        total += slotView(this.#region, i)[offset]!;
      }
      return total;
    };
    r.gauge({
      name: "tcpservd_workers",
      help: "Worker processes the master keeps running (-w).",
      collect: () => count,
    });
    if (options.commands) {
      r.counter({
        name: "tcpservd_commands",
        help:
          "Request lines received, by command (echo: a line that is no command; error: a malformed one).",
        labelNames: ["command"],
        collect: () =>
          COMMANDS.map((command, i) =>
            [
              { command },
              sum(OFFSET.command(i)),
            ] as const
          ),
      });
      r.counter({
        name: "tcpservd_startloops",
        help: "startloop commands that started burning CPU.",
        collect: () => sum(OFFSET.scalar("loopsStarted")),
      });
      r.gauge({
        name: "tcpservd_startloops_running",
        help: "startloop commands burning CPU now.",
        collect: () => sum(OFFSET.scalar("loopsRunning")),
      });
    }
    registerServerSeries(r, {
      open: () => sum(OFFSET.scalar("open")),
      accepted: () => sum(OFFSET.scalar("accepted")),
      refused: () => sum(OFFSET.scalar("refused")),
      ...(state !== undefined ? { state } : {}),
    });
    if (options.faults) {
      r.counter({
        name: "tcpservd_faults_applied",
        help: "Faults applied to a connection, by kind.",
        labelNames: ["fault"],
        collect: () =>
          FAULT_NAMES.map((fault, i) =>
            [
              { fault },
              sum(OFFSET.applied(i)),
            ] as const
          ),
      });
      r.gauge({
        name: "tcpservd_faults_active",
        help:
          "Faults in force for new connections, by kind, summed over the workers (each has its own).",
        labelNames: ["fault"],
        collect: () =>
          FAULT_NAMES.map((fault, i) =>
            [
              { fault },
              sum(OFFSET.active(i)),
            ] as const
          ),
      });
    }
  }

  /** The path a worker opens (`--shared-metrics`). */
  get path(): string {
    return this.#region.path;
  }

  /** Zeroes the gauges of a worker that exited (its totals stay). */
  workerExited(workerId: number): void {
    if (this.#closed || workerId < 1 || workerId > this.#count) return;
    const slot = slotView(this.#region, workerId - 1);
    slot[OFFSET.scalar("open")] = 0;
    slot[OFFSET.scalar("loopsRunning")] = 0;
  }

  /** Unmaps the region. */
  close(): void {
    this.#closed = true;
    this.#region.close();
  }
}
