/**
 * A counter: a total that only goes up (requests served, faults applied).
 * Its name always ends in `_total`, as Prometheus expects of counters.
 */
import type { Labels } from "./labels.ts";
import type { Metric, ScalarOptions } from "./metric.ts";
import { ScalarSeries } from "./scalar.ts";

/**
 * A counter metric family.
 *
 * @example
 * ```ts
 * import { Counter } from "./counter.ts";
 * const commands = new Counter({
 *   name: "tcpservd_commands",
 *   help: "Commands received, by name.",
 *   labelNames: ["command"],
 * });
 * commands.inc({ command: "getstatus" });
 * commands.render(); // ... tcpservd_commands_total{command="getstatus"} 1
 * ```
 */
export class Counter implements Metric {
  readonly #series: ScalarSeries;

  /**
   * Creates the counter; `_total` is added to a name without it.
   *
   * @throws {MetricNameError} For a bad metric or label name.
   */
  constructor(options: ScalarOptions) {
    const name = options.name.endsWith("_total")
      ? options.name
      : `${options.name}_total`;
    this.#series = new ScalarSeries(name, "counter", options);
  }

  /** The family name, ending in `_total`. */
  get name(): string {
    return this.#series.name;
  }

  /**
   * Adds `amount` (default 1) to the series with these labels; `amount` 0
   * makes the series appear at 0.
   *
   * @throws {RangeError} For a negative or non-finite amount.
   * @throws {LabelError} For labels other than the declared ones.
   */
  inc(labels?: Labels, amount = 1): void {
    if (!Number.isFinite(amount) || amount < 0) {
      throw new RangeError(
        `Counter ${this.name} cannot grow by ${amount}: counters only go up`,
      );
    }
    this.#series.cell(labels).value += amount;
  }

  /** The current value of a series (0 if it never counted). */
  value(labels?: Labels): number {
    return this.#series.cell(labels).value;
  }

  /** The family in the text format. */
  render(): string {
    return this.#series.render();
  }
}
