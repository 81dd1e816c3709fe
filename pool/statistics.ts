/**
 * iotcpd's counters, the latency histogram, and their three renderings: the
 * original's SIGUSR1 block (byte for byte), the SIGUSR2 per-daemon table,
 * and JSON.
 */
import {
  FAILURE_REASONS,
  type FailureReason,
  isTimeoutReason,
} from "./request_errors.ts";
import type { DaemonInfo, DaemonState } from "./daemon_pool.ts";

/** The latency histogram's buckets, in ms: `[from, to)`; the last is open. */
export const LATENCY_BUCKETS: readonly {
  label: string;
  belowMs: number;
}[] = [
  { label: "0-100", belowMs: 100 },
  { label: "100-250", belowMs: 250 },
  { label: "250-500", belowMs: 500 },
  { label: "500-750", belowMs: 750 },
  { label: "750-1000", belowMs: 1000 },
  { label: "1000-", belowMs: Infinity },
];

/**
 * The request counters. Each request is counted once in `total` when its
 * line arrives, and once more when it ends: in `replied`, `timeout` or
 * `failed`. In between it is queued or in flight, so at any instant
 * `total = replied + timeout + failed + queued + inFlight`.
 */
export class Statistics {
  /** Requests received: complete lines, and over-long ones. */
  total = 0;
  /** Requests answered with the daemon's reply line. */
  replied = 0;
  /** Requests that found no idle daemon and waited in the queue. */
  delayed = 0;
  /** Requests answered `ERR` for a queue timeout or a busy timeout. */
  timeout = 0;
  /** Requests answered `ERR` for any other reason. */
  failed = 0;
  /** Client connections that ended without one complete request line. */
  unknown = 0;
  /** Replied requests per latency bucket (see {@linkcode LATENCY_BUCKETS}). */
  readonly latency: number[] = LATENCY_BUCKETS.map(() => 0);
  /** Failed and timed-out requests by cause. */
  readonly failures: Record<FailureReason, number> = Object.fromEntries(
    FAILURE_REASONS.map((reason) => [reason, 0]),
  ) as Record<FailureReason, number>;
  /** When counting started (`performance.now()`, ms). */
  readonly startedAt: number = performance.now();
  /** Told of each reply's latency in ms (the metrics histogram); none: nobody. */
  onReply: ((ms: number) => void) | undefined = undefined;

  /** Counts a new request; `delayed` when it has to wait for a daemon. */
  recordRequest(delayed: boolean): void {
    this.total++;
    if (delayed) this.delayed++;
  }

  /** Counts a reply that took `ms` from the request line to the reply line. */
  recordReply(ms: number): void {
    this.replied++;
    let bucket = 0;
    while (ms >= LATENCY_BUCKETS[bucket]!.belowMs) bucket++;
    this.latency[bucket]!++;
    this.onReply?.(ms);
  }

  /** Counts a request that ends with `ERR`. */
  recordFailure(reason: FailureReason): void {
    if (isTimeoutReason(reason)) this.timeout++;
    else this.failed++;
    this.failures[reason]++;
  }

  /** Counts a connection that closed without a complete request. */
  recordUnknown(): void {
    this.unknown++;
  }

  /** Seconds since counting started, rounded down. */
  uptimeSeconds(now: number = performance.now()): number {
    return Math.floor((now - this.startedAt) / 1000);
  }
}

/** The pool's side of a snapshot: gauges and daemon counters. */
export interface PoolCounters {
  /** Requests waiting for a daemon now. */
  queued: number;
  /** Requests a daemon is working on now (= BUSY daemons). */
  inFlight: number;
  /** Daemon processes started since start. */
  spawns: number;
  /** Daemons that ended on their own (exit, stdout closed, bad reply). */
  deaths: number;
  /** Daemons killed for passing the busy timeout. */
  busyKills: number;
  /** Replaced or dead daemons still being stopped. */
  retiring: number;
  /** Daemon slots per state; they add up to the pool size. */
  states: Record<DaemonState, number>;
}

/** Everything the reports show, taken at one instant. */
export interface StatisticsSnapshot {
  /** tcpkit's version. */
  version: string;
  /** Seconds since start. */
  uptimeSeconds: number;
  /** Request counters and gauges. */
  queries: {
    total: number;
    replied: number;
    delayed: number;
    timeout: number;
    failed: number;
    unknown: number;
    queued: number;
    inFlight: number;
  };
  /** Failed and timed-out requests by cause. */
  failures: Record<FailureReason, number>;
  /** Replied requests per latency bucket, by label (`"0-100"` … `"1000-"`). */
  latencyMs: Record<string, number>;
  /** Client connections refused at the connection limit (they got `ERR`). */
  refusedConnections: number;
  /** Daemon counters. */
  daemons: Omit<PoolCounters, "queued" | "inFlight">;
}

/** Combines the request counters and the pool's counters into a snapshot. */
export function takeSnapshot(
  stats: Statistics,
  pool: PoolCounters,
  extra: { version: string; refusedConnections?: number },
): StatisticsSnapshot {
  const { queued, inFlight, ...daemons } = pool;
  return {
    version: extra.version,
    uptimeSeconds: stats.uptimeSeconds(),
    queries: {
      total: stats.total,
      replied: stats.replied,
      delayed: stats.delayed,
      timeout: stats.timeout,
      failed: stats.failed,
      unknown: stats.unknown,
      queued,
      inFlight,
    },
    failures: { ...stats.failures },
    latencyMs: Object.fromEntries(
      LATENCY_BUCKETS.map((b, i) => [b.label, stats.latency[i]!]),
    ),
    refusedConnections: extra.refusedConnections ?? 0,
    daemons: { ...daemons, states: { ...daemons.states } },
  };
}

// Labels are padded to column 19, as the original's printf formats did.
function row(label: string, value: number | string, width = 19): string {
  return `${label.padEnd(width)}${value}\n`;
}

/**
 * The SIGUSR1 block, in the original's exact format: the same lines, the
 * same padding, the same markers. `version` is tcpkit's version.
 */
export function formatStatistics(s: StatisticsSnapshot): string {
  const q = s.queries;
  const st = s.daemons.states;
  return [
    " --- statistics ---- >8 -------\n",
    row("queries total", q.total),
    row("queries replied", q.replied),
    row("queries delayed", q.delayed),
    row("queries timeout", q.timeout),
    row("queries failed", q.failed),
    row("queries unknown", q.unknown),
    ...LATENCY_BUCKETS.map((b) =>
      row(`queries ${b.label}`, s.latencyMs[b.label] ?? 0)
    ),
    row("daemon spawns", s.daemons.spawns),
    row("daemon S_AVAILABLE", st.AVAILABLE),
    row("daemon S_BUSY", st.BUSY),
    row("daemon S_SPAWNING", st.SPAWNING),
    row("daemon S_STARTING", st.STARTING),
    row("uptime", s.uptimeSeconds, 9),
    row("version", s.version, 9),
    " --- statistics ---- 8< -------\n",
  ].join("");
}

/**
 * The SIGUSR2 per-daemon table: one row per slot (`-` where a value does
 * not apply), then the daemons still being stopped.
 */
export function formatDaemonTable(
  rows: readonly DaemonInfo[],
  retiring: readonly number[] = [],
): string {
  const header = [
    "daemon",
    "pid",
    "state",
    "requests",
    "replies",
    "failures",
    "spawns",
    "kills",
    "busy_ms",
    "age_s",
  ];
  const cells = rows.map((d) => [
    `d[${d.slot}]`,
    d.pid === null ? "-" : String(d.pid),
    `S_${d.state}`,
    String(d.requests),
    String(d.replies),
    String(d.failures),
    String(d.spawns),
    String(d.kills),
    d.busyMs === null ? "-" : String(Math.round(d.busyMs)),
    d.ageMs === null ? "-" : String(Math.floor(d.ageMs / 1000)),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => c[i]!.length))
  );
  const line = (c: string[]) =>
    c.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd() + "\n";
  return [
    " --- daemons ---- >8 -------\n",
    line(header),
    ...cells.map(line),
    `retiring ${retiring.length}${
      retiring.length ? ` (pids ${retiring.join(" ")})` : ""
    }\n`,
    " --- daemons ---- 8< -------\n",
  ].join("");
}

/** The JSON document of `--stats-json`: the snapshot plus the daemon table. */
export interface StatisticsJson extends StatisticsSnapshot {
  /** The process id of iotcpd. */
  pid: number;
  /** When the document was written (ISO 8601). */
  writtenAt: string;
  /** One entry per daemon slot. */
  daemonTable: DaemonInfo[];
}

// Temporary files written so far: each write gets a name of its own.
let jsonWrites = 0;

/**
 * Writes `data` as JSON to `path` atomically (a temporary file, then a
 * rename), so a reader never sees half a document.
 */
export async function writeJsonFile(
  path: string,
  data: unknown,
): Promise<void> {
  // A name of its own per write: two writes at once (SIGUSR1 and SIGUSR2
  // back to back) sharing one temporary file mixed their bytes.
  const temporary = `${path}.${Deno.pid}.${++jsonWrites}.tmp`;
  await Deno.writeTextFile(temporary, JSON.stringify(data, null, 2) + "\n");
  await Deno.rename(temporary, path);
}
