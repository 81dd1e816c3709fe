import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";
import { MetricNameError } from "./names.ts";

Deno.test("Histogram renders cumulative buckets, +Inf, _sum and _count", () => {
  const h = new Histogram({
    name: "lat_seconds",
    help: "Latency.",
    buckets: [0.1, 1],
  });
  h.observe(0.05);
  h.observe(0.1); // le is inclusive
  h.observe(0.5);
  h.observe(7);
  assert.equal(
    h.render(),
    [
      "# HELP lat_seconds Latency.",
      "# TYPE lat_seconds histogram",
      'lat_seconds_bucket{le="0.1"} 2',
      'lat_seconds_bucket{le="1"} 3',
      'lat_seconds_bucket{le="+Inf"} 4',
      "lat_seconds_sum 7.65",
      "lat_seconds_count 4",
      "",
    ].join("\n"),
  );
  assert.equal(h.count(), 4);
});

Deno.test("Histogram puts le after its own labels", () => {
  const h = new Histogram({
    name: "h",
    help: "H.",
    buckets: [1],
    labelNames: ["outcome"],
  });
  h.observe(2, { outcome: "ok" });
  assert.match(h.render(), /^h_bucket\{outcome="ok",le="1"\} 0$/m);
  assert.match(h.render(), /^h_bucket\{outcome="ok",le="\+Inf"\} 1$/m);
  assert.match(h.render(), /^h_count\{outcome="ok"\} 1$/m);
});

Deno.test("Histogram refuses bad buckets, an le label, NaN and suffixed names", () => {
  const make = (buckets: number[]) => () =>
    new Histogram({ name: "h", help: "H.", buckets });
  assert.throws(make([]), RangeError);
  assert.throws(make([1, 1]), RangeError);
  assert.throws(make([2, 1]), RangeError);
  assert.throws(make([1, Infinity]), RangeError);
  assert.throws(
    () =>
      new Histogram({
        name: "h",
        help: "H.",
        buckets: [1],
        labelNames: ["le"],
      }),
    MetricNameError,
  );
  assert.throws(
    () => new Histogram({ name: "h_count", help: "H.", buckets: [1] }),
    MetricNameError,
  );
  assert.throws(() => make([1])().observe(NaN), RangeError);
});
