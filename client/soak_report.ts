/**
 * The HTML report of `tcpcli soak --report FILE`: one self-contained page
 * (no network: inline style, inline data, inline script drawing SVG) with
 * the summary table, the latency histogram and three plots over time:
 * throughput, latency percentiles and failures, the --during window shaded.
 * With --by-node, a fourth plot shows the replies of each node.
 *
 * @module
 */
import type { SoakSummary } from "./soak_summary.ts";
import type { SoakStep } from "./soak_timeline.ts";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that is safe inside a <script> element (no `</script>`, no `<!--`). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** The colours of the series, also what a screenshot test looks for. */
export const SERIES_COLOURS: Record<string, string> = {
  sent: "#9e9e9e",
  answered: "#1f77b4",
  p50: "#2ca02c",
  p99: "#ff7f0e",
  max: "#d62728",
  refused: "#9467bd",
  reset: "#8c564b",
  timeout: "#e377c2",
  lost: "#17becf",
  wrong: "#bcbd22",
};

// Draws the plots from the inline data. Plain ES2020, no dependency.
const DRAW = String.raw`
"use strict";
const data = JSON.parse(document.getElementById("soak-data").textContent);
const NS = "http://www.w3.org/2000/svg";
const W = 1100, H = 220, L = 64, R = 16, T = 14, B = 30;
const steps = data.steps;
const endMs = Math.max(data.stepMs, steps.length * data.stepMs);
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (parent) parent.appendChild(e);
  return e;
}
function nice(max) {
  if (!(max > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}
function plot(id, title, unit, series, values) {
  const svg = document.getElementById(id);
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  let top = 0;
  for (const s of series) for (const st of steps) top = Math.max(top, values(st, s));
  top = nice(top);
  const x = (ms) => L + (ms / endMs) * (W - L - R);
  const y = (v) => H - B - (v / top) * (H - T - B);
  if (data.during && data.during.startMs !== null) {
    const to = data.during.endMs === null ? endMs : data.during.endMs;
    el("rect", {
      class: "during", "data-window": "during",
      x: x(data.during.startMs), y: T,
      width: Math.max(2, x(to) - x(data.during.startMs)), height: H - T - B,
      fill: "#ffd54f", "fill-opacity": 0.45,
    }, svg);
  }
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#444" }, svg);
  el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#444" }, svg);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    el("line", { x1: L, y1: y(v), x2: W - R, y2: y(v), stroke: "#e0e0e0" }, svg);
    const t = el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, svg);
    t.textContent = String(Number(v.toPrecision(3)));
  }
  const seconds = endMs / 1000;
  const every = nice(seconds / 10);
  for (let s = 0; s <= seconds + 1e-9; s += every) {
    const t = el("text", { x: x(s * 1000), y: H - B + 18, "text-anchor": "middle" }, svg);
    t.textContent = Number(s.toPrecision(4)) + " s";
  }
  const legend = el("text", { x: L + 8, y: T + 14, class: "title" }, svg);
  legend.textContent = unit ? title + " (" + unit + ")" : title;
  let lx = L + 8 + legend.textContent.length * 8 + 16;
  for (const s of series) {
    let d = "";
    steps.forEach((st, i) => {
      d += (i === 0 ? "M" : "L") + x(st.t + data.stepMs / 2).toFixed(1) + " " + y(values(st, s)).toFixed(1);
    });
    el("path", {
      d, fill: "none", stroke: s.colour, "stroke-width": 2,
      "data-series": s.name, "data-points": steps.length,
    }, svg);
    el("rect", { x: lx, y: T + 5, width: 12, height: 10, fill: s.colour }, svg);
    const t = el("text", { x: lx + 16, y: T + 14 }, svg);
    t.textContent = s.name;
    lx += 16 + s.name.length * 8 + 14;
  }
  return series.length;
}
const C = data.colours;
const perSecond = 1000 / data.stepMs;
let drawn = 0;
drawn += plot("throughput", "Throughput", "msg/s",
  ["sent", "answered"].map((n) => ({ name: n, colour: C[n] })),
  (st, s) => st[s.name] * perSecond);
drawn += plot("latency", "Latency from due", "ms",
  ["p50", "p99", "max"].map((n) => ({ name: n, colour: C[n] })),
  (st, s) => st[s.name]);
drawn += plot("failures", "Failures per step", "",
  ["refused", "reset", "timeout", "lost", "wrong"].map((n) => ({ name: n, colour: C[n] })),
  (st, s) => st[s.name]);
if (data.nodes) {
  const palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
  drawn += plot("nodes", "Replies per node", "msg/s",
    data.nodes.map((n, i) => ({ name: n, colour: palette[i % palette.length] })),
    (st, s) => ((st.nodes && st.nodes[s.name]) || 0) * perSecond);
}
document.body.dataset.drawn = String(drawn);
`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.verdict { font-weight: bold; padding: 2px 8px; border-radius: 4px; }
.ok { background: #c8e6c9; } .lost { background: #ffcdd2; }
table { border-collapse: collapse; margin: 12px 0; }
td, th { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
svg.chart { display: block; width: 100%; max-width: 1100px; height: auto; margin: 8px 0 18px; }
svg text { font: 12px system-ui, sans-serif; fill: #333; } svg text.title { font-weight: bold; }
.window { background: #ffd54f; padding: 0 6px; }
`;

function row(cells: (string | number)[], header = false): string {
  const tag = header ? "th" : "td";
  return `<tr>${
    cells.map((c) => `<${tag}>${escapeHtml(String(c))}</${tag}>`).join("")
  }</tr>`;
}

/** Renders the report page for a run. */
export function renderReport(summary: SoakSummary, steps: SoakStep[]): string {
  const s = summary;
  const t = s.totals;
  const kinds = [
    "sent",
    "answered",
    "opened",
    "refused",
    "reset",
    "timeout",
    "lost",
    "wrong",
  ] as const;
  const tables: string[] = [];
  tables.push(
    `<table id="table-totals">${row(["", ...kinds], true)}${
      row(["total", ...kinds.map((k) => t[k])])
    }${
      s.during === null ? "" : (["before", "during", "after"] as const).map((
        phase,
      ) => row([phase, ...kinds.map((k) => s.during!.phases[phase][k])])).join(
        "",
      )
    }</table>`,
  );
  const l = s.latencyMs;
  tables.push(
    `<table id="table-latency">${
      row(
        ["latency (ms)", "min", "p50", "p90", "p99", "p99.9", "max", "mean"],
        true,
      )
    }${
      row(["from due", l.min, l.p50, l.p90, l.p99, l.p999, l.max, l.mean])
    }</table>`,
  );
  if (s.nodes !== null) {
    tables.push(
      `<table id="table-nodes">${
        row(["node", "replies", "first (s)", "last (s)"], true)
      }${
        s.nodes.map((n) =>
          row([
            n.node,
            n.answers,
            (n.firstMs / 1000).toFixed(2),
            (n.lastMs / 1000).toFixed(2),
          ])
        ).join("")
      }</table>`,
    );
  }
  const histogram = s.histogram.length === 0
    ? ""
    : `<details><summary>Latency histogram (${s.histogram.length} buckets)</summary><table id="table-histogram">${
      row(["from (ms)", "to (ms)", "count"], true)
    }${
      s.histogram.map((b) => row([b.fromUs / 1000, b.toUs / 1000, b.count]))
        .join("")
    }</table></details>`;
  const d = s.during;
  const window = d === null
    ? ""
    : `<p><span class="window">--during</span> ${escapeHtml(d.command)}: ${
      d.startMs === null
        ? "never started"
        : `from ${(d.startMs / 1000).toFixed(2)} s`
    }${
      d.endMs === null
        ? (d.startMs === null ? "" : ", still running at the end (stopped)")
        : ` to ${(d.endMs / 1000).toFixed(2)} s`
    }${d.exitCode === null ? "" : `, exit ${d.exitCode}`}</p>`;
  const data = {
    stepMs: steps.length > 1 ? steps[1]!.t - steps[0]!.t : 100,
    steps,
    during: d === null ? null : { startMs: d.startMs, endMs: d.endMs },
    nodes: s.nodes === null ? null : s.nodes.map((n) => n.node),
    colours: SERIES_COLOURS,
  };
  const verdict = s.lostMessages + s.failedConnections === 0
    ? `<span class="verdict ok">nothing lost</span>`
    : `<span class="verdict lost">LOST ${s.lostMessages} message${
      s.lostMessages === 1 ? "" : "s"
    }, ${s.failedConnections} connection${
      s.failedConnections === 1 ? "" : "s"
    } failed</span>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>tcpcli soak ${escapeHtml(s.target)}</title>
<style>${STYLE}</style></head>
<body>
<h1>tcpcli soak ${escapeHtml(s.target)} ${verdict}</h1>
<p>${escapeHtml(s.mode)} mode, ${s.conns} connections, ${s.rate} messages/s${
    s.connectRate > 0 ? `, ${s.connectRate} new connections/s` : ""
  }, ${s.messages} messages, timeout ${s.timeoutMs} ms; started ${
    escapeHtml(s.startedAt)
  }, ran ${(s.elapsedMs / 1000).toFixed(2)} s; exit code ${s.exitCode}</p>
${window}
${tables.join("\n")}
<svg class="chart" id="throughput" role="img" aria-label="throughput"></svg>
<svg class="chart" id="latency" role="img" aria-label="latency"></svg>
<svg class="chart" id="failures" role="img" aria-label="failures"></svg>
${
    s.nodes === null
      ? ""
      : `<svg class="chart" id="nodes" role="img" aria-label="replies per node"></svg>`
  }
${histogram}
<script id="soak-data" type="application/json">${scriptJson(data)}</script>
<script>${DRAW}</script>
</body></html>
`;
}
