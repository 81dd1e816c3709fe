/**
 * A histogram with fixed buckets: observations counted in cumulative
 * `_bucket{le="…"}` series (the last `le="+Inf"`), with `_sum` and `_count`.
 */
import { formatValue, headerLines, sampleLine } from "./exposition.ts";
import { type Labels, SeriesMap } from "./labels.ts";
import type { Metric } from "./metric.ts";
import { checkMetricName, MetricNameError } from "./names.ts";

/** Options of a {@linkcode Histogram}. */
export interface HistogramOptions {
  /** The metric name in base units, e.g. `iotcpd_request_duration_seconds`. */
  name: string;
  /** One line saying what it measures. */
  help: string;
  /** Upper bounds of the buckets, increasing and finite; `+Inf` is added. */
  buckets: readonly number[];
  /** The label names (not `le`). @default {[]} */
  labelNames?: readonly string[];
}

interface HistogramData {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram metric family.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const latency = new Histogram({
 *   name: "iotcpd_request_duration_seconds",
 *   help: "From the request line to the reply line.",
 *   buckets: [0.01, 0.1, 1],
 * });
 * latency.observe(0.05);
 * latency.render(); // ... _bucket{le="0.1"} 1 ... _bucket{le="+Inf"} 1 ... _count 1
 * ```
 */
export class Histogram implements Metric {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #series: SeriesMap<HistogramData>;

  /**
   * Creates the histogram.
   *
   * @throws {MetricNameError} For a bad name, or a label named `le`.
   * @throws {RangeError} For buckets that are empty, not finite or not increasing.
   */
  constructor(options: HistogramOptions) {
    this.#name = checkMetricName(options.name);
    if (/_(bucket|sum|count|total)$/.test(options.name)) {
      throw new MetricNameError(
        `Invalid histogram name ${options.name}: its series add _bucket, _sum and _count`,
      );
    }
    this.#help = options.help;
    const bounds = [...options.buckets];
    if (bounds.length === 0) {
      throw new RangeError(`Histogram ${options.name} needs buckets`);
    }
    bounds.forEach((bound, i) => {
      if (!Number.isFinite(bound) || (i > 0 && bound <= bounds[i - 1]!)) {
        throw new RangeError(
          `Buckets of histogram ${options.name} must be finite and increasing: ${
            bounds.join(", ")
          }`,
        );
      }
    });
    this.#bounds = bounds;
    this.#series = new SeriesMap(
      options.name,
      options.labelNames ?? [],
      () => ({ counts: bounds.map(() => 0), sum: 0, count: 0 }),
      ["le"],
    );
    if (this.#series.names.length === 0) this.#series.get(undefined);
  }

  /** The family name. */
  get name(): string {
    return this.#name;
  }

  /** The bucket bounds, without `+Inf`. */
  get buckets(): readonly number[] {
    return this.#bounds;
  }

  /**
   * Counts one observation in every bucket whose bound is `>= value`.
   *
   * @throws {RangeError} For NaN.
   * @throws {LabelError} For labels other than the declared ones.
   */
  observe(value: number, labels?: Labels): void {
    if (Number.isNaN(value)) {
      throw new RangeError(`Histogram ${this.#name} cannot observe NaN`);
    }
    const data = this.#series.get(labels);
    // Each observation lands in its first bucket; render() makes them cumulative.
    const index = this.#bounds.findIndex((bound) => value <= bound);
    if (index >= 0) data.counts[index]!++;
    data.sum += value;
    data.count++;
  }

  /** Observations so far (with these labels). */
  count(labels?: Labels): number {
    return this.#series.get(labels).count;
  }

  /** The family in the text format. */
  render(): string {
    let text = headerLines(this.#name, "histogram", this.#help);
    for (const [pairs, data] of this.#series.entries()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += data.counts[i]!;
        text += sampleLine(`${this.#name}_bucket`, [
          ...pairs,
          ["le", formatValue(bound)],
        ], cumulative);
      });
      text += sampleLine(
        `${this.#name}_bucket`,
        [...pairs, ["le", "+Inf"]],
        data.count,
      );
      text += sampleLine(`${this.#name}_sum`, pairs, data.sum);
      text += sampleLine(`${this.#name}_count`, pairs, data.count);
    }
    return text;
  }
}
