/**
 * Prometheus metrics, our own small implementation: counters, gauges and
 * fixed-bucket histograms with labels, rendered in the text exposition
 * format 0.0.4, and a bounded `/metrics` HTTP endpoint.
 *
 * Why not `prom-client` from npm: it is written for Node (it pulls in
 * `node:` modules and `process` hooks), and loading npm modules costs tens
 * of milliseconds at start-up; the format is small enough to own. The
 * servers load this module only when `--metrics` is given (a dynamic
 * import), so their start-up without it is unchanged.
 *
 * ```ts
 * import { Registry } from "./mod.ts";
 *
 * const registry = new Registry();
 * const commands = registry.counter({
 *   name: "app_commands",
 *   help: "Commands received, by name.",
 *   labelNames: ["command"],
 * });
 * commands.inc({ command: "getstatus" });
 * registry.render();
 * // # HELP app_commands_total Commands received, by name.
 * // # TYPE app_commands_total counter
 * // app_commands_total{command="getstatus"} 1
 * ```
 *
 * @module
 */
export { Counter } from "./counter.ts";
export { Gauge } from "./gauge.ts";
export { Histogram, type HistogramOptions } from "./histogram.ts";
export { LabelError, type Labels } from "./labels.ts";
export type { Collect, Metric, ScalarOptions } from "./metric.ts";
export { checkLabelName, checkMetricName, MetricNameError } from "./names.ts";
export {
  CONTENT_TYPE,
  escapeHelp,
  escapeLabelValue,
  formatValue,
} from "./exposition.ts";
export { Registry } from "./registry.ts";
export { registerProcessMetrics } from "./process_metrics.ts";
export { type MetricsAddress, parseMetricsAddress } from "./metrics_address.ts";
export { MetricsServer, type MetricsServerOptions } from "./metrics_server.ts";
export { serveMetrics } from "./serve_metrics.ts";
