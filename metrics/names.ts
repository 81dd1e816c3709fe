/**
 * Which metric and label names the Prometheus text format accepts, checked
 * when a metric is made (a typo fails at start-up, not at scrape time).
 */

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A metric or label name the exposition format cannot carry. */
export class MetricNameError extends Error {
  /** Creates the error for a bad `name`, saying why. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MetricNameError";
  }
}

/**
 * Checks a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
 *
 * @throws {MetricNameError} For any other name.
 */
export function checkMetricName(name: string): string {
  if (!METRIC_NAME.test(name)) {
    throw new MetricNameError(`Invalid metric name: ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * Checks a label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
 * (reserved by Prometheus), and not one in `reserved` (`le` for histograms).
 *
 * @throws {MetricNameError} For any other name.
 */
export function checkLabelName(
  name: string,
  reserved: readonly string[] = [],
): string {
  if (!LABEL_NAME.test(name) || name.startsWith("__")) {
    throw new MetricNameError(`Invalid label name: ${JSON.stringify(name)}`);
  }
  if (reserved.includes(name)) {
    throw new MetricNameError(`Reserved label name: ${JSON.stringify(name)}`);
  }
  return name;
}
