/**
 * The labelled series of one metric: label values checked against the
 * declared label names, and each series kept under one key.
 */
import { checkLabelName } from "./names.ts";

/** Label values by label name, e.g. `{ command: "getstatus" }`. */
export type Labels = Readonly<Record<string, string>>;

/** The wrong labels for a metric: missing, extra, or not strings. */
export class LabelError extends Error {
  /** Creates the error with a message naming the metric. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LabelError";
  }
}

/**
 * The series of a metric, by label values, in the order first seen. `T` is
 * what a series holds (a number, or a histogram's counts).
 */
export class SeriesMap<T> {
  readonly #metric: string;
  readonly #names: readonly string[];
  readonly #series = new Map<string, { values: string[]; data: T }>();
  readonly #create: () => T;

  /**
   * @param metric The metric's name, for messages.
   * @param names The label names, in the order they are printed.
   * @param create Makes the data of a new series.
   * @param reserved Label names the metric type keeps for itself.
   */
  constructor(
    metric: string,
    names: readonly string[],
    create: () => T,
    reserved: readonly string[] = [],
  ) {
    this.#metric = metric;
    this.#names = names.map((n) => checkLabelName(n, reserved));
    if (new Set(this.#names).size !== this.#names.length) {
      throw new LabelError(`Duplicate label name in metric ${metric}`);
    }
    this.#create = create;
  }

  /** The label names. */
  get names(): readonly string[] {
    return this.#names;
  }

  /**
   * The data of the series with these labels, made on first use.
   *
   * @throws {LabelError} When the labels are not exactly the declared ones.
   */
  get(labels: Labels | undefined): T {
    const given = labels ?? {};
    const keys = Object.keys(given);
    if (
      keys.length !== this.#names.length ||
      keys.some((k) => !this.#names.includes(k))
    ) {
      throw new LabelError(
        `Metric ${this.#metric} takes labels [${
          this.#names.join(", ")
        }], got [${keys.join(", ")}]`,
      );
    }
    const values = this.#names.map((name) => {
      const value = given[name];
      if (typeof value !== "string") {
        throw new LabelError(
          `Label ${name} of metric ${this.#metric} must be a string`,
        );
      }
      return value;
    });
    const key = JSON.stringify(values);
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { values, data: this.#create() };
      this.#series.set(key, entry);
    }
    return entry.data;
  }

  /** Every series: its label pairs and its data. */
  *entries(): IterableIterator<
    [readonly (readonly [string, string])[], T]
  > {
    for (const { values, data } of this.#series.values()) {
      yield [this.#names.map((name, i) => [name, values[i]!] as const), data];
    }
  }
}
