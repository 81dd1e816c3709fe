/**
 * The process series every Prometheus client offers and costs nothing:
 * `process_start_time_seconds`, so a restart shows as a step.
 */
import type { Gauge } from "./gauge.ts";
import type { Registry } from "./registry.ts";

/** Registers `process_start_time_seconds` (Unix time, seconds). */
export function registerProcessMetrics(registry: Registry): Gauge {
  // timeOrigin is when this process's runtime started, in ms since the epoch.
  const start = Math.floor(performance.timeOrigin) / 1000;
  return registry.gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    collect: () => start,
  });
}
