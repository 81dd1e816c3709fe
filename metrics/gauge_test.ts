import assert from "node:assert/strict";
import { Gauge } from "./gauge.ts";

Deno.test("Gauge goes up and down and renders as a gauge", () => {
  const gauge = new Gauge({ name: "open", help: "Open." });
  gauge.inc();
  gauge.inc(undefined, 4);
  gauge.inc(undefined, -2);
  assert.equal(gauge.value(), 3);
  gauge.set(-1.5);
  assert.equal(
    gauge.render(),
    "# HELP open Open.\n# TYPE open gauge\nopen -1.5\n",
  );
});

Deno.test("Gauge keeps a name ending in _total as given (no suffix games)", () => {
  assert.equal(new Gauge({ name: "g", help: "G." }).name, "g");
});

Deno.test("Gauge per state: one series per label value, set to 0 or 1", () => {
  const gauge = new Gauge({
    name: "health",
    help: "H.",
    labelNames: ["state"],
  });
  gauge.set(1, { state: "GOOD" });
  gauge.set(0, { state: "BAD" });
  assert.match(
    gauge.render(),
    /^health\{state="GOOD"\} 1\nhealth\{state="BAD"\} 0\n$/m,
  );
});
