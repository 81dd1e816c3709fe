import assert from "node:assert/strict";
import {
  escapeHtml,
  renderReport,
  scriptJson,
  SERIES_COLOURS,
} from "./soak_report.ts";
import type { SoakSummary } from "./soak_summary.ts";
import { emptyCounts, type SoakStep } from "./soak_timeline.ts";

function summary(command: string): SoakSummary {
  return {
    target: "127.0.0.1:1971",
    mode: "echo",
    conns: 2,
    rate: 10,
    connectRate: 0,
    timeoutMs: 100,
    startedAt: "2026-01-01T00:00:00.000Z",
    durationMs: 200,
    elapsedMs: 210,
    messages: 2,
    totals: { ...emptyCounts(), sent: 2, answered: 1, timeout: 1 },
    lostMessages: 1,
    failedConnections: 0,
    wrongReplies: { corrupt: 0, duplicate: 0, reordered: 0, unexpected: 0 },
    latencyMs: { min: 1, p50: 1, p90: 1, p99: 1, p999: 1, max: 1, mean: 1 },
    histogram: [{ fromUs: 1000, toUs: 1007, count: 1 }],
    during: {
      command,
      startMs: 50,
      endMs: 120,
      exitCode: 0,
      phases: {
        before: emptyCounts(),
        during: emptyCounts(),
        after: emptyCounts(),
      },
    },
    nodes: null,
    exitCode: 1,
  };
}

const steps: SoakStep[] = [0, 100].map((t) => ({
  t,
  ...emptyCounts(),
  p50: 1,
  p99: 1,
  max: 1,
}));

Deno.test("renderReport() is one page that loads nothing from the network", () => {
  const html = renderReport(summary("kill -HUP 1"), steps);
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  assert.doesNotMatch(html, /\b(src|href)=/);
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  for (const id of ["throughput", "latency", "failures"]) {
    assert.equal(html.split(`id="${id}"`).length, 2, `one element ${id}`);
  }
  assert.match(html, /LOST 1 message, 0 connections failed/);
  assert.match(
    html,
    /--during<\/span> kill -HUP 1: from 0\.05 s to 0\.12 s, exit 0/,
  );
  for (const colour of Object.values(SERIES_COLOURS)) {
    assert.ok(html.includes(colour), colour);
  }
});

Deno.test("renderReport() escapes what the user typed, in HTML and in the inline data", () => {
  const evil = `</script><script>alert(1)</script><b>&"'`;
  const html = renderReport(summary(evil), steps);
  assert.equal(
    html.split("</script>").length - 1,
    2,
    "only our two scripts end",
  );
  assert.ok(html.includes(escapeHtml(evil)));
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;",
  );
  assert.equal(JSON.parse(scriptJson({ s: evil })).s, evil);
  assert.doesNotMatch(scriptJson({ s: evil }), /</);
});
