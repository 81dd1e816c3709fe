/**
 * What every metric shares: a name, help text, and a rendering in the text
 * format. The registry holds metrics through this interface.
 */
import type { Labels } from "./labels.ts";

/** A metric family the {@linkcode Registry} can render. */
export interface Metric {
  /** The family name as printed in `# TYPE` (a counter's ends in `_total`). */
  readonly name: string;
  /** The family's lines: `# HELP`, `# TYPE`, then its samples. */
  render(): string;
}

/**
 * Values read at each scrape instead of being pushed: one number for a
 * metric without labels, or pairs of labels and values.
 */
export type Collect = () => number | Iterable<readonly [Labels, number]>;

/** Options every counter and gauge takes. */
export interface ScalarOptions {
  /** The metric name, e.g. `tcpservd_connections_open`. */
  name: string;
  /** One line saying what it counts (escaped on output). */
  help: string;
  /** The label names, in the order printed. @default {[]} */
  labelNames?: readonly string[];
  /** Read the values at each scrape (see {@linkcode Collect}). */
  collect?: Collect;
}
