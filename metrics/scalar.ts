/**
 * The common body of counters and gauges: one number per series, pushed by
 * the program or read at each scrape.
 */
import { headerLines, sampleLine } from "./exposition.ts";
import { type Labels, SeriesMap } from "./labels.ts";
import type { Collect, ScalarOptions } from "./metric.ts";
import { checkMetricName } from "./names.ts";

/** A counter's or gauge's series. Internal: use {@linkcode Counter} or {@linkcode Gauge}. */
export class ScalarSeries {
  readonly name: string;
  readonly #help: string;
  readonly #type: "counter" | "gauge";
  readonly #collect: Collect | undefined;
  /** One `{ value }` cell per series. */
  readonly series: SeriesMap<{ value: number }>;

  constructor(
    name: string,
    type: "counter" | "gauge",
    options: ScalarOptions,
  ) {
    this.name = checkMetricName(name);
    this.#help = options.help;
    this.#type = type;
    this.#collect = options.collect;
    this.series = new SeriesMap(
      name,
      options.labelNames ?? [],
      () => ({ value: 0 }),
    );
    // A metric without labels shows 0 before its first event.
    if (this.series.names.length === 0) this.series.get(undefined);
  }

  /** Reads the collected values (if any) into the series. */
  #gather(): void {
    const collected = this.#collect?.();
    if (collected === undefined) return;
    if (typeof collected === "number") {
      this.series.get(undefined).value = collected;
      return;
    }
    for (const [labels, value] of collected) {
      this.series.get(labels).value = value;
    }
  }

  render(): string {
    this.#gather();
    let text = headerLines(this.name, this.#type, this.#help);
    for (const [pairs, cell] of this.series.entries()) {
      text += sampleLine(this.name, pairs, cell.value);
    }
    return text;
  }

  cell(labels: Labels | undefined): { value: number } {
    return this.series.get(labels);
  }
}
