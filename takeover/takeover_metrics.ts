/**
 * The takeover server's Prometheus metrics: handovers by outcome, the pause
 * clients saw, connections, seqnums echoed. Loaded by `main.ts` only when
 * `--metrics` is given.
 *
 * The metrics port moves with the service: the old process stops serving
 * metrics the moment it has handed over, and the new one binds the same
 * address once the takeover is done, retrying while the old process still
 * holds it (see {@linkcode serveMetricsAfterTakeover}).
 */
import {
  type Counter,
  type Gauge,
  type Histogram,
  type MetricsAddress,
  type MetricsServer,
  registerProcessMetrics,
  Registry,
  serveMetrics,
} from "../metrics/mod.ts";
import type { TakeoverEvent } from "./handover_offer.ts";
import type { SeqnumService } from "./seqnum_server.ts";
import type { TakeoverServer } from "./takeover_server.ts";

export { serveMetrics };

/** Pause buckets in seconds: handovers take milliseconds; the timeout is seconds. */
const PAUSE_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
];

/** The outcomes counted, as label values. */
const OUTCOMES = ["handed_over", "rolled_back", "refused", "abandoned"];

/**
 * The metrics of one takeover server process. Pass
 * {@linkcode TakeoverMetrics.onEvent} as the server's `onEvent`, then
 * {@linkcode TakeoverMetrics.watch} the server.
 */
export class TakeoverMetrics {
  /** Every series, for the endpoint. */
  readonly registry: Registry = new Registry();
  readonly #handovers: Counter;
  readonly #lastPause: Gauge;
  readonly #pauses: Histogram;
  /** Called once this process has handed over (the endpoint closes then). */
  onHandedOver: (() => void) | undefined = undefined;

  constructor() {
    registerProcessMetrics(this.registry);
    this.#handovers = this.registry.counter({
      name: "takeover_handovers",
      help:
        "Handovers offered by this process, by outcome (handed_over, rolled_back after a pause, refused or abandoned before one).",
      labelNames: ["outcome"],
    });
    for (const outcome of OUTCOMES) this.#handovers.inc({ outcome }, 0);
    this.#lastPause = this.registry.gauge({
      name: "takeover_last_handover_pause_seconds",
      help:
        "How long clients waited in the last handover or rollback of this process (0: none yet).",
    });
    this.#pauses = this.registry.histogram({
      name: "takeover_handover_pause_seconds",
      help: "How long clients waited in each handover or rollback.",
      buckets: PAUSE_BUCKETS,
    });
  }

  /** Counts an offer event (give this to the server as `onEvent`). */
  onEvent(event: TakeoverEvent): void {
    switch (event.type) {
      case "handed-over":
      case "rolled-back":
        this.#handovers.inc({ outcome: event.type.replace("-", "_") });
        this.#lastPause.set(event.pausedMs / 1000);
        this.#pauses.observe(event.pausedMs / 1000);
        if (event.type === "handed-over") this.onHandedOver?.();
        break;
      case "refused":
      case "abandoned":
        this.#handovers.inc({ outcome: event.type });
        break;
    }
  }

  /** Handovers so far with this outcome (for tests and logs). */
  handovers(outcome: string): number {
    return this.#handovers.value({ outcome });
  }

  /** Adds the series read from the server and the seqnum service. */
  watch(server: TakeoverServer, service: SeqnumService): void {
    const r = this.registry;
    r.gauge({
      name: "takeover_connections_open",
      help: "Client connections served now.",
      collect: () => server.connectionCount,
    });
    r.counter({
      name: "takeover_connections_accepted",
      help: "Client connections accepted by this process.",
      collect: () => server.acceptedCount,
    });
    r.counter({
      name: "takeover_seqnums_echoed",
      help: "Seqnums echoed by this process.",
      collect: () => service.echoedHere,
    });
    const took = server.tookOver;
    r.gauge({
      name: "takeover_took_over_connections",
      help:
        "Connections this process took over from the previous one at start (0: it listened itself).",
      collect: () => took?.connections ?? 0,
    });
    r.gauge({
      name: "takeover_took_over_seconds",
      help:
        "How long this process's own takeover took, connect to commit (0: it listened itself).",
      collect: () => (took?.elapsedMs ?? 0) / 1000,
    });
  }
}

/**
 * Serves metrics after a takeover: the old process may hold the address
 * for a moment after the commit, so `AddrInUse` is retried every 50 ms for
 * up to `waitMs`.
 *
 * @throws {Deno.errors.AddrInUse} When it is still taken after `waitMs`.
 */
export async function serveMetricsAfterTakeover(
  address: MetricsAddress,
  registry: Registry,
  waitMs: number,
): Promise<MetricsServer> {
  const until = performance.now() + waitMs;
  while (true) {
    try {
      return serveMetrics(address, registry, "takeover");
    } catch (error) {
      if (
        !(error instanceof Deno.errors.AddrInUse) ||
        performance.now() >= until
      ) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
