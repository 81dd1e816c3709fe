/**
 * The Prometheus text exposition format, version 0.0.4: escaping, number
 * formatting and one sample line. The metric classes render through these.
 */

/** The `Content-Type` of a scrape in the text format. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(
    /[\\"\n]/g,
    (c) => c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n",
  );
}

/** Escapes HELP text: backslash and line feed (a quote stays as is). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** Formats a sample value: integers plainly, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * One sample line: `name{a="x",b="y"} value\n`; no braces without labels.
 *
 * @param labels Name and value pairs, in the order to print.
 */
export function sampleLine(
  name: string,
  labels: readonly (readonly [string, string])[],
  value: number,
): string {
  const inner = labels.map(([label, text]) =>
    `${label}="${escapeLabelValue(text)}"`
  ).join(",");
  return `${name}${inner === "" ? "" : `{${inner}}`} ${formatValue(value)}\n`;
}

/** The `# HELP` and `# TYPE` lines of a metric family. */
export function headerLines(
  name: string,
  type: "counter" | "gauge" | "histogram",
  help: string,
): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}
