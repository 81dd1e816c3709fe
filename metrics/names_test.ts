import assert from "node:assert/strict";
import { checkLabelName, checkMetricName, MetricNameError } from "./names.ts";

Deno.test("checkMetricName() accepts Prometheus names and refuses others", () => {
  assert.equal(checkMetricName("a:b_c1"), "a:b_c1");
  for (const bad of ["", "1abc", "a-b", "a b", "é"]) {
    assert.throws(() => checkMetricName(bad), MetricNameError);
  }
});

Deno.test("checkLabelName() refuses colons, __ prefixes and reserved names", () => {
  assert.equal(checkLabelName("command"), "command");
  assert.throws(() => checkLabelName("a:b"), MetricNameError);
  assert.throws(() => checkLabelName("__name__"), MetricNameError);
  assert.throws(() => checkLabelName("le", ["le"]), /Reserved label name/);
});
