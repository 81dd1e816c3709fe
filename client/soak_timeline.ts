/**
 * The timeline of a `tcpcli soak` run: what happened in each 100 ms step
 * (messages sent and answered, connections refused and reset, messages timed
 * out, lost or answered wrong, latency percentiles, replies per node), and
 * the totals with the whole run's latency histogram.
 *
 * @module
 */
import { LatencyHistogram } from "./soak_histogram.ts";

/** Length of one timeline step, in ms. */
export const STEP_MS = 100;

/**
 * Most distinct nodes counted by name (--by-node); replies from any further
 * node count under {@linkcode OTHER_NODE}, so a server naming a new node per
 * reply cannot grow the timeline without bound.
 */
export const MAX_NODES = 64;

/** Where replies from nodes beyond {@linkcode MAX_NODES} are counted. */
export const OTHER_NODE = "(other)";

/** The failure kinds, each a count of failure events. */
export const FAILURE_KINDS = [
  "refused",
  "reset",
  "timeout",
  "lost",
  "wrong",
] as const;

/** One of {@linkcode FAILURE_KINDS}. */
export type FailureKind = typeof FAILURE_KINDS[number];

/** The counters of one step (or of a whole run). */
export interface SoakCounts {
  /** Messages written. */
  sent: number;
  /** Messages answered with the expected reply. */
  answered: number;
  /** Connections opened. */
  opened: number;
  /** Connection attempts that failed (refused, unreachable, connect timeout). */
  refused: number;
  /** Connections reset, or closed by the server while replies were due. */
  reset: number;
  /** Messages with no reply within the timeout of when they were due. */
  timeout: number;
  /** Messages sent on a connection that broke before their reply. */
  lost: number;
  /** Replies that were not the expected one. */
  wrong: number;
}

/** One 100 ms step of the timeline. */
export interface SoakStep extends SoakCounts {
  /** Start of the step, in ms since the load started. */
  t: number;
  /** Latency percentiles of the step's answers, in ms (0 when none). */
  p50: number;
  /** 99th percentile, in ms. */
  p99: number;
  /** Largest latency, in ms. */
  max: number;
  /** Answers per node (with --by-node). */
  nodes?: Record<string, number>;
}

/** An empty set of counters. */
export function emptyCounts(): SoakCounts {
  return {
    sent: 0,
    answered: 0,
    opened: 0,
    refused: 0,
    reset: 0,
    timeout: 0,
    lost: 0,
    wrong: 0,
  };
}

/** The failures in `counts`: connection and message failures together. */
export function failuresOf(counts: SoakCounts): number {
  return failedConnectionsOf(counts) + lostMessagesOf(counts);
}

/** Connection failures in `counts`: refused and reset. */
export function failedConnectionsOf(counts: SoakCounts): number {
  return counts.refused + counts.reset;
}

/** Messages that failed in `counts`: timed out, lost or answered wrong. */
export function lostMessagesOf(counts: SoakCounts): number {
  return counts.timeout + counts.lost + counts.wrong;
}

/** Where an event falls against the --during window. */
export type SoakPhase = "before" | "during" | "after";

/** The --during window, in ms since the load started; `end` once CMD exited. */
export interface SoakWindow {
  /** When CMD started. */
  start: number;
  /** When it exited; undefined while it runs. */
  end: number | undefined;
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** Builds the timeline as events come; times are ms since the load started. */
export class SoakTimeline {
  readonly steps: SoakStep[] = [];
  /** Totals over the whole run. */
  readonly totals: SoakCounts = emptyCounts();
  /** Latencies of the whole run (µs). */
  readonly histogram: LatencyHistogram = new LatencyHistogram();
  readonly #stepHistogram = new LatencyHistogram();
  #stepOpen = -1;
  readonly #byNode: boolean;
  readonly #onNodeOverflow: ((node: string) => void) | undefined;
  /** Per node: answers, first and last answer (ms since the start). */
  readonly nodes: Map<
    string,
    { answers: number; first: number; last: number }
  > = new Map();

  /**
   * The --during window once CMD started. An event is attributed when it is
   * counted: at its time, or for a time-out at the time its message was
   * due, which is never after the count, so the window is known by then.
   */
  window: SoakWindow | undefined;
  /** The counters before, during and after the window. */
  readonly phases: Record<SoakPhase, SoakCounts> = {
    before: emptyCounts(),
    during: emptyCounts(),
    after: emptyCounts(),
  };

  /**
   * Makes an empty timeline; `byNode` keeps answers per node per step.
   * `onNodeOverflow` is told once, with its name, of the first node beyond
   * {@linkcode MAX_NODES}.
   */
  constructor(byNode = false, onNodeOverflow?: (node: string) => void) {
    this.#byNode = byNode;
    this.#onNodeOverflow = onNodeOverflow;
  }

  /** The phase of time `t`. */
  phaseOf(t: number): SoakPhase {
    const w = this.window;
    if (w === undefined || t < w.start) return "before";
    return w.end === undefined || t < w.end ? "during" : "after";
  }

  #step(t: number): SoakStep {
    const index = Math.max(0, Math.floor(t / STEP_MS));
    while (this.steps.length <= index) {
      const step: SoakStep = {
        t: this.steps.length * STEP_MS,
        ...emptyCounts(),
        p50: 0,
        p99: 0,
        max: 0,
      };
      if (this.#byNode) step.nodes = {};
      this.steps.push(step);
    }
    return this.steps[index]!;
  }

  /** Counts one event of `kind` at time `t`. */
  count(kind: Exclude<keyof SoakCounts, "answered">, t: number, n = 1): void {
    this.#step(t)[kind] += n;
    this.totals[kind] += n;
    this.phases[this.phaseOf(t)][kind] += n;
  }

  /**
   * Records an answer at `t` with its latency in ms (from when it was due),
   * and the node that answered, if known. Answers come in time order.
   */
  answer(t: number, latencyMs: number, node?: string): void {
    const index = Math.max(0, Math.floor(t / STEP_MS));
    if (index !== this.#stepOpen) this.#closeStep(index);
    const step = this.#step(t);
    step.answered++;
    this.totals.answered++;
    this.phases[this.phaseOf(t)].answered++;
    const us = latencyMs * 1000;
    this.histogram.record(us);
    this.#stepHistogram.record(us);
    if (node !== undefined) {
      if (!this.nodes.has(node) && this.nodes.size >= MAX_NODES) {
        // One slot is kept for the rest: MAX_NODES names plus OTHER_NODE.
        if (!this.nodes.has(OTHER_NODE)) this.#onNodeOverflow?.(node);
        node = OTHER_NODE;
      }
      if (step.nodes) step.nodes[node] = (step.nodes[node] ?? 0) + 1;
      const seen = this.nodes.get(node);
      if (seen === undefined) {
        this.nodes.set(node, { answers: 1, first: t, last: t });
      } else {
        seen.answers++;
        seen.last = t;
      }
    }
  }

  // Writes the percentiles of the step being filled, then starts `next`.
  #closeStep(next: number): void {
    const open = this.steps[this.#stepOpen];
    if (open !== undefined && this.#stepHistogram.count > 0) {
      open.p50 = round3(this.#stepHistogram.percentile(50) / 1000);
      open.p99 = round3(this.#stepHistogram.percentile(99) / 1000);
      open.max = round3(this.#stepHistogram.max / 1000);
    }
    this.#stepHistogram.clear();
    this.#stepOpen = next;
  }

  /** Ends the timeline at `t` (ms): fills the last percentiles and empty steps. */
  finish(t: number): void {
    this.#closeStep(-1);
    this.#step(t);
  }
}
