import assert from "node:assert/strict";
import { Counter } from "./counter.ts";
import { LabelError } from "./labels.ts";

Deno.test("Counter adds _total and renders HELP, TYPE and a 0 before any event", () => {
  const counter = new Counter({ name: "app_requests", help: "Requests." });
  assert.equal(counter.name, "app_requests_total");
  assert.equal(
    counter.render(),
    "# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\napp_requests_total 0\n",
  );
  const again = new Counter({ name: "app_x_total", help: "X." });
  assert.equal(again.name, "app_x_total");
});

Deno.test("Counter counts per label set and escapes label values", () => {
  const counter = new Counter({
    name: "cmds",
    help: "C.",
    labelNames: ["command"],
  });
  counter.inc({ command: "getstatus" });
  counter.inc({ command: "getstatus" }, 2);
  counter.inc({ command: 'we"ird\n' });
  assert.equal(counter.value({ command: "getstatus" }), 3);
  assert.equal(
    counter.render().split("\n").slice(2).join("\n"),
    'cmds_total{command="getstatus"} 3\ncmds_total{command="we\\"ird\\n"} 1\n',
  );
});

Deno.test("Counter refuses to go down and refuses wrong labels", () => {
  const counter = new Counter({ name: "c", help: "C.", labelNames: ["a"] });
  assert.throws(() => counter.inc({ a: "x" }, -1), RangeError);
  assert.throws(() => counter.inc({ a: "x" }, NaN), RangeError);
  assert.throws(() => counter.inc(), LabelError);
  assert.throws(() => counter.inc({ a: "x", b: "y" }), LabelError);
  assert.throws(() => counter.inc({ b: "y" }), LabelError);
});

Deno.test("Counter with collect reads its values at each render", () => {
  let accepted = 5;
  const counter = new Counter({
    name: "accepted",
    help: "A.",
    collect: () => accepted,
  });
  assert.match(counter.render(), /^accepted_total 5$/m);
  accepted = 9;
  assert.match(counter.render(), /^accepted_total 9$/m);
  const labelled = new Counter({
    name: "by",
    help: "B.",
    labelNames: ["reason"],
    collect: () => [[{ reason: "timeout" }, 2]],
  });
  assert.match(labelled.render(), /^by_total\{reason="timeout"\} 2$/m);
});
