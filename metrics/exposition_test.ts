import assert from "node:assert/strict";
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  headerLines,
  sampleLine,
} from "./exposition.ts";

Deno.test("escapeLabelValue() escapes backslash, quote and line feed only", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeLabelValue("tab\there é"), "tab\there é");
});

Deno.test("escapeHelp() escapes backslash and line feed, not quotes", () => {
  assert.equal(escapeHelp('say "hi"\\\nnow'), 'say "hi"\\\\\\nnow');
});

Deno.test("formatValue() writes infinities and NaN as Prometheus reads them", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(3), "3");
  assert.equal(formatValue(0.25), "0.25");
});

Deno.test("sampleLine() prints labels in order, and no braces without any", () => {
  assert.equal(sampleLine("up", [], 1), "up 1\n");
  assert.equal(
    sampleLine("x_total", [["a", "1"], ["b", 'q"']], 2),
    'x_total{a="1",b="q\\""} 2\n',
  );
});

Deno.test("headerLines() gives HELP then TYPE with the help escaped", () => {
  assert.equal(
    headerLines("x", "gauge", "line\none"),
    "# HELP x line\\none\n# TYPE x gauge\n",
  );
});
