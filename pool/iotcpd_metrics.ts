/**
 * iotcpd's Prometheus metrics: the counters it already keeps for SIGUSR1
 * (requests, replies, failures by reason, daemon spawns and deaths), the
 * queue, the daemons by state, connections, and a request latency
 * histogram. Loaded by `main.ts` only when `--metrics` is given.
 */
import {
  type Histogram,
  registerProcessMetrics,
  Registry,
} from "../metrics/mod.ts";
import type { DaemonState } from "./daemon_pool.ts";
import type { Iotcpd } from "./iotcpd.ts";
import { FAILURE_REASONS } from "./request_errors.ts";

export { serveMetrics } from "../metrics/serve_metrics.ts";

/**
 * Latency bucket bounds in seconds: fine below 100 ms (a helper such as
 * squidGuard answers in microseconds to milliseconds), and every edge of
 * the SIGUSR1 block's buckets (100, 250, 500, 750, 1000 ms) so both agree.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  10,
];

const DAEMON_STATES: readonly DaemonState[] = [
  "AVAILABLE",
  "BUSY",
  "SPAWNING",
  "STARTING",
];

/**
 * The metrics of one iotcpd. Counts are read from its statistics at each
 * scrape; the histogram hears every reply as it happens.
 */
export class IotcpdMetrics {
  /** Every series, for the endpoint. */
  readonly registry: Registry = new Registry();
  /** From the request line to the reply line. */
  readonly latency: Histogram;

  constructor(iotcpd: Iotcpd) {
    const r = this.registry;
    registerProcessMetrics(r);
    const stats = iotcpd.statistics;
    // One snapshot per scrape, shared by the series below.
    let snapshot = iotcpd.snapshot();
    const fresh = () => (snapshot = iotcpd.snapshot());
    r.counter({
      name: "iotcpd_requests",
      help: "Requests received (complete lines, and over-long ones).",
      collect: () => fresh().queries.total,
    });
    r.counter({
      name: "iotcpd_replies",
      help: "Requests answered with the daemon's reply line.",
      collect: () => snapshot.queries.replied,
    });
    r.counter({
      name: "iotcpd_requests_delayed",
      help: "Requests that found no idle daemon and waited in the queue.",
      collect: () => snapshot.queries.delayed,
    });
    r.counter({
      name: "iotcpd_request_errors",
      help:
        "Requests answered ERR, by reason (queue-timeout and busy-timeout are the timeouts).",
      labelNames: ["reason"],
      collect: () =>
        FAILURE_REASONS.map((reason) =>
          [
            { reason },
            snapshot.failures[reason],
          ] as const
        ),
    });
    r.counter({
      name: "iotcpd_connections_without_request",
      help: "Client connections that ended without one complete request line.",
      collect: () => snapshot.queries.unknown,
    });
    r.counter({
      name: "iotcpd_connections_refused",
      help:
        "Client connections refused at the connection limit (they got ERR).",
      collect: () => snapshot.refusedConnections,
    });
    r.gauge({
      name: "iotcpd_connections_open",
      help: "Client connections open now, on every listener.",
      collect: () => iotcpd.connectionCount,
    });
    r.gauge({
      name: "iotcpd_queue_length",
      help: "Requests waiting for a free daemon now.",
      collect: () => snapshot.queries.queued,
    });
    r.gauge({
      name: "iotcpd_requests_in_flight",
      help: "Requests a daemon is working on now.",
      collect: () => snapshot.queries.inFlight,
    });
    r.counter({
      name: "iotcpd_daemon_spawns",
      help:
        "Daemon processes started (first starts, respawns and SIGHUP restarts).",
      collect: () => snapshot.daemons.spawns,
    });
    r.counter({
      name: "iotcpd_daemon_deaths",
      help: "Daemons that ended on their own (exit, stdout closed, bad reply).",
      collect: () => snapshot.daemons.deaths,
    });
    r.counter({
      name: "iotcpd_daemon_busy_kills",
      help: "Daemons killed for passing the busy timeout.",
      collect: () => snapshot.daemons.busyKills,
    });
    r.gauge({
      name: "iotcpd_daemons",
      help: "Daemon slots by state; they add up to the pool size.",
      labelNames: ["state"],
      collect: () =>
        DAEMON_STATES.map((state) =>
          [
            { state: state.toLowerCase() },
            snapshot.daemons.states[state],
          ] as const
        ),
    });
    r.gauge({
      name: "iotcpd_daemons_retiring",
      help: "Replaced or dead daemons still being stopped.",
      collect: () => snapshot.daemons.retiring,
    });
    const latency = r.histogram({
      name: "iotcpd_request_duration_seconds",
      help: "Replied requests: from the request line to the reply line.",
      buckets: LATENCY_BUCKETS_SECONDS,
    });
    this.latency = latency;
    stats.onReply = (ms) => latency.observe(ms / 1000);
  }
}
