/**
 * A gauge: a value that goes up and down (connections open, queue length,
 * a state as 0 or 1).
 */
import type { Labels } from "./labels.ts";
import type { Metric, ScalarOptions } from "./metric.ts";
import { ScalarSeries } from "./scalar.ts";

/**
 * A gauge metric family.
 *
 * @example
 * ```ts
 * import { Gauge } from "./gauge.ts";
 * let open = 3;
 * const gauge = new Gauge({
 *   name: "tcpservd_connections_open",
 *   help: "Connections open now.",
 *   collect: () => open,
 * });
 * gauge.render(); // ... tcpservd_connections_open 3
 * ```
 */
export class Gauge implements Metric {
  readonly #series: ScalarSeries;

  /**
   * Creates the gauge.
   *
   * @throws {MetricNameError} For a bad metric or label name.
   */
  constructor(options: ScalarOptions) {
    this.#series = new ScalarSeries(options.name, "gauge", options);
  }

  /** The family name. */
  get name(): string {
    return this.#series.name;
  }

  /**
   * Sets the series with these labels.
   *
   * @throws {LabelError} For labels other than the declared ones.
   */
  set(value: number, labels?: Labels): void {
    this.#series.cell(labels).value = value;
  }

  /** Adds `amount` (default 1; negative to lower it). */
  inc(labels?: Labels, amount = 1): void {
    this.#series.cell(labels).value += amount;
  }

  /** The current value of a series (0 if never set). */
  value(labels?: Labels): number {
    return this.#series.cell(labels).value;
  }

  /** The family in the text format. */
  render(): string {
    return this.#series.render();
  }
}
