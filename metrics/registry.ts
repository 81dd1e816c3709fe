/**
 * A set of metrics rendered together: what one `/metrics` scrape returns.
 */
import { Counter } from "./counter.ts";
import { Gauge } from "./gauge.ts";
import { Histogram, type HistogramOptions } from "./histogram.ts";
import type { Metric, ScalarOptions } from "./metric.ts";
import { MetricNameError } from "./names.ts";

/**
 * The metrics of one process, each family name once.
 *
 * @example
 * ```ts
 * import { Registry } from "./registry.ts";
 * const registry = new Registry();
 * const requests = registry.counter({ name: "app_requests", help: "Requests." });
 * requests.inc();
 * registry.render(); // "# HELP app_requests_total Requests.\n# TYPE ..."
 * ```
 */
export class Registry {
  readonly #metrics = new Map<string, Metric>();
  // Family names and the sample names they print, to refuse clashes.
  readonly #taken = new Set<string>();

  /**
   * Adds a metric; returns it.
   *
   * @throws {MetricNameError} When its name (or a series name it prints,
   * such as a histogram's `_count`) is taken.
   */
  register<M extends Metric>(metric: M): M {
    const names = metric instanceof Histogram
      ? ["", "_bucket", "_sum", "_count"].map((s) => metric.name + s)
      : [metric.name];
    const clash = names.find((n) => this.#taken.has(n));
    if (clash !== undefined) {
      throw new MetricNameError(`Metric ${clash} is registered twice`);
    }
    for (const n of names) this.#taken.add(n);
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** Creates and registers a {@linkcode Counter}. */
  counter(options: ScalarOptions): Counter {
    return this.register(new Counter(options));
  }

  /** Creates and registers a {@linkcode Gauge}. */
  gauge(options: ScalarOptions): Gauge {
    return this.register(new Gauge(options));
  }

  /** Creates and registers a {@linkcode Histogram}. */
  histogram(options: HistogramOptions): Histogram {
    return this.register(new Histogram(options));
  }

  /** The registered metrics, in registration order. */
  get metrics(): readonly Metric[] {
    return [...this.#metrics.values()];
  }

  /** Every family in the text format, in registration order. */
  render(): string {
    let text = "";
    for (const metric of this.#metrics.values()) text += metric.render();
    return text;
  }
}
