/**
 * The summary of a `tcpcli soak` run: one object (what `--json` writes and
 * the report shows) and its text form for people.
 *
 * @module
 */
import type { EchoFaults, SoakLoadResult } from "./soak_load.ts";
import type { HistogramBucket } from "./soak_histogram.ts";
import {
  failedConnectionsOf,
  lostMessagesOf,
  type SoakCounts,
  type SoakPhase,
} from "./soak_timeline.ts";

/** Latency figures in ms, counted from when each message was due. */
export interface SoakLatency {
  /** Fastest answer. */
  min: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** Slowest answer (exact). */
  max: number;
  /** Mean. */
  mean: number;
}

/** What the --during command did and what happened around it. */
export interface SoakDuringSummary {
  /** The command. */
  command: string;
  /** When it started, ms after the load started (null: it never ran). */
  startMs: number | null;
  /** When it exited (null: still running at the end, then stopped). */
  endMs: number | null;
  /** Its exit code (null: killed or never ran). */
  exitCode: number | null;
  /** Counters before, during and after the window. */
  phases: Record<SoakPhase, SoakCounts>;
}

/** One node's replies (--by-node). */
export interface SoakNodeSummary {
  /** The node's name. */
  node: string;
  /** Replies it sent. */
  answers: number;
  /** Its first reply, ms after the load started. */
  firstMs: number;
  /** Its last reply. */
  lastMs: number;
}

/** The summary of a run. */
export interface SoakSummary {
  /** HOST:PORT. */
  target: string;
  /** Payload mode used. */
  mode: string;
  /** Connections kept open. */
  conns: number;
  /** Messages per second asked for. */
  rate: number;
  /** New connections per second asked for. */
  connectRate: number;
  /** Timeout in ms. */
  timeoutMs: number;
  /** When the load started (ISO 8601). */
  startedAt: string;
  /** Length of the schedule, in ms. */
  durationMs: number;
  /** From the start to the last answer or failure, in ms. */
  elapsedMs: number;
  /** Messages in the schedule. */
  messages: number;
  /** Totals of the run. */
  totals: SoakCounts;
  /** Messages that failed: timed out + lost + wrong. */
  lostMessages: number;
  /** Connections that failed: refused + reset. */
  failedConnections: number;
  /** Details of wrong replies. */
  wrongReplies: EchoFaults;
  /** Latency figures, in ms. */
  latencyMs: SoakLatency;
  /** The latency histogram's non-empty buckets (µs). */
  histogram: HistogramBucket[];
  /** The --during command and the attribution, if one was given. */
  during: SoakDuringSummary | null;
  /** Replies per node, with --by-node. */
  nodes: SoakNodeSummary[] | null;
  /** The exit code: 0 nothing lost, 1 a message or a connection failed. */
  exitCode: number;
}

const ms3 = (us: number) => Math.round(us) / 1000;
const r1 = (ms: number) => Math.round(ms * 10) / 10;

/** Builds the summary of a run. */
export function summarize(
  result: SoakLoadResult,
  settings: {
    hostname: string;
    port: number;
    conns: number;
    rate: number;
    connectRate: number;
    timeoutMs: number;
    durationMs: number;
    byNode: boolean;
  },
  during: Omit<SoakDuringSummary, "phases"> | null,
): SoakSummary {
  const { timeline } = result;
  const h = timeline.histogram;
  const lostMessages = lostMessagesOf(timeline.totals);
  const failedConnections = failedConnectionsOf(timeline.totals);
  const host = settings.hostname.includes(":")
    ? `[${settings.hostname}]`
    : settings.hostname;
  return {
    target: `${host}:${settings.port}`,
    mode: result.payload.mode,
    conns: settings.conns,
    rate: settings.rate,
    connectRate: settings.connectRate,
    timeoutMs: settings.timeoutMs,
    startedAt: new Date(result.startedAt).toISOString(),
    durationMs: settings.durationMs,
    elapsedMs: r1(result.elapsedMs),
    messages: result.messages,
    totals: { ...timeline.totals },
    lostMessages,
    failedConnections,
    wrongReplies: { ...result.faults },
    latencyMs: {
      min: ms3(h.min),
      p50: ms3(h.percentile(50)),
      p90: ms3(h.percentile(90)),
      p99: ms3(h.percentile(99)),
      p999: ms3(h.percentile(99.9)),
      max: ms3(h.max),
      mean: ms3(h.mean),
    },
    histogram: h.buckets(),
    during: during === null ? null : { ...during, phases: timeline.phases },
    nodes: settings.byNode
      ? [...timeline.nodes.entries()].map(([node, n]) => ({
        node,
        answers: n.answers,
        firstMs: r1(n.first),
        lastMs: r1(n.last),
      })).sort((a, b) => a.firstMs - b.firstMs)
      : null,
    exitCode: lostMessages + failedConnections > 0 ? 1 : 0,
  };
}

function pad(text: string | number, width: number): string {
  return String(text).padStart(width);
}

function seconds(ms: number | null): string {
  return ms === null ? "-" : `${(ms / 1000).toFixed(2)} s`;
}

/** The text summary for people. */
export function formatSummary(s: SoakSummary): string {
  const t = s.totals;
  const secs = s.elapsedMs / 1000;
  const lines = [
    `tcpcli soak ${s.target} (${s.mode}): ${s.conns} connection${
      s.conns === 1 ? "" : "s"
    }, ${s.rate} messages/s, ${s.messages} messages over ${
      (s.durationMs / 1000).toFixed(1)
    } s` +
    (s.connectRate > 0 ? `, ${s.connectRate} new connections/s` : ""),
    `  sent ${t.sent}, answered ${t.answered} in ${secs.toFixed(2)} s (${
      secs > 0 ? Math.round(t.answered / secs) : 0
    }/s)`,
    `  connections: opened ${t.opened}, refused ${t.refused}, reset ${t.reset}`,
    `  messages: timed out ${t.timeout}, lost ${t.lost}, wrong ${t.wrong}` +
    wrongDetail(s),
    `  latency from due (ms): p50 ${s.latencyMs.p50}, p90 ${s.latencyMs.p90}, p99 ${s.latencyMs.p99}, p99.9 ${s.latencyMs.p999}, max ${s.latencyMs.max}`,
  ];
  if (s.histogram.length > 0) {
    lines.push("  latency histogram (ms):");
    const rows = coarse(s.histogram);
    const most = Math.max(...rows.map((r) => r.count));
    for (const row of rows) {
      const bar = "#".repeat(Math.max(1, Math.round((row.count / most) * 40)));
      lines.push(
        `    ${pad(row.from, 9)} - ${pad(row.to, 9)} ${
          pad(row.count, 9)
        } ${bar}`,
      );
    }
  }
  if (s.during !== null) {
    const d = s.during;
    lines.push(
      `  during "${d.command}": ${
        d.startMs === null ? "never started" : `from ${seconds(d.startMs)}`
      }${d.endMs === null ? "" : ` to ${seconds(d.endMs)}`}${
        d.exitCode === null ? "" : ` (exit ${d.exitCode})`
      }${
        d.startMs !== null && d.endMs === null
          ? " (still running at the end, stopped)"
          : ""
      }`,
      `    ${"".padEnd(7)}${
        ["sent", "answered", "refused", "reset", "timeout", "lost", "wrong"]
          .map((h) => pad(h, 9)).join("")
      }`,
    );
    for (const phase of ["before", "during", "after"] as const) {
      const c = d.phases[phase];
      lines.push(
        `    ${phase.padEnd(7)}${
          [c.sent, c.answered, c.refused, c.reset, c.timeout, c.lost, c.wrong]
            .map((n) => pad(n, 9)).join("")
        }`,
      );
    }
  }
  if (s.nodes !== null) {
    lines.push("  replies per node:");
    const start = s.during?.startMs ?? null;
    for (const n of s.nodes) {
      // A failover's detection time: the bad node's last reply after CMD.
      const after = start !== null && n.lastMs >= start
        ? ` (${seconds(n.lastMs - start)} after --during started)`
        : "";
      lines.push(
        `    ${n.node.padEnd(20)} ${pad(n.answers, 9)} replies, first ${
          seconds(n.firstMs)
        }, last ${seconds(n.lastMs)}${after}`,
      );
    }
  }
  lines.push(`  result: ${verdict(s)}`);
  return `${lines.join("\n")}\n`;
}

/** The headline: messages lost and connections failed, each on its own. */
export function verdict(s: SoakSummary): string {
  const t = s.totals;
  if (s.lostMessages === 0 && s.failedConnections === 0) {
    return "nothing lost (exit 0)";
  }
  const plural = (n: number, word: string) =>
    `${n} ${word}${n === 1 ? "" : "s"}`;
  const messages = s.lostMessages === 0
    ? "no message lost"
    : `LOST ${
      plural(s.lostMessages, "message")
    } (timed out ${t.timeout}, lost ${t.lost}, wrong ${t.wrong})`;
  const conns = s.failedConnections === 0
    ? "no connection failed"
    : `${
      plural(s.failedConnections, "connection")
    } failed (refused ${t.refused}, reset ${t.reset})`;
  return `${messages}; ${conns} (exit ${s.exitCode})`;
}

function wrongDetail(s: SoakSummary): string {
  const w = s.wrongReplies;
  const parts = Object.entries(w).filter(([, n]) => n > 0).map(([k, n]) =>
    `${k} ${n}`
  );
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}

/** Histogram buckets gathered into power-of-two ranges of ms. */
function coarse(
  buckets: HistogramBucket[],
): { from: number; to: number; count: number }[] {
  const rows = new Map<number, number>();
  for (const b of buckets) {
    const power = b.fromUs < 1 ? 0 : Math.floor(Math.log2(b.fromUs)) + 1;
    rows.set(power, (rows.get(power) ?? 0) + b.count);
  }
  return [...rows.entries()].sort((a, b) => a[0] - b[0]).map((
    [power, count],
  ) => ({
    from: power === 0 ? 0 : 2 ** (power - 1) / 1000,
    to: 2 ** power / 1000,
    count,
  }));
}
