import assert from "node:assert/strict";
import {
  FAULT_NAMES,
  FaultSpecError,
  formatFaultSpec,
  parseFaultSpec,
} from "./fault_spec.ts";

Deno.test("parseFaultSpec() fills defaults and the common settings", () => {
  assert.deepEqual(parseFaultSpec("delay"), {
    name: "delay",
    settings: { ms: 1000, jitter: 0 },
    p: 1,
    seed: undefined,
    on: "new",
  });
  assert.deepEqual(parseFaultSpec("reset,after=100,p=0.25,seed=7,on=current"), {
    name: "reset",
    settings: { after: 100, mid: 0 },
    p: 0.25,
    seed: 7,
    on: "current",
  });
});

Deno.test("parseFaultSpec() takes bare words and a bare number", () => {
  assert.equal(parseFaultSpec("reset mid").settings.mid, 1);
  assert.equal(parseFaultSpec("crash abort").settings.abort, 1);
  assert.equal(parseFaultSpec("delay 250").settings.ms, 250);
  assert.equal(parseFaultSpec("crash 3").settings.code, 3);
});

Deno.test("parseFaultSpec() knows every documented fault", () => {
  for (const name of FAULT_NAMES) assert.equal(parseFaultSpec(name).name, name);
});

Deno.test("parseFaultSpec() rejects unknown faults, settings and bad values", () => {
  assert.throws(() => parseFaultSpec(""), FaultSpecError);
  assert.throws(() => parseFaultSpec("explode"), /Unknown fault "explode"/);
  assert.throws(
    () => parseFaultSpec("delay color=red"),
    /Unknown setting "color" for delay/,
  );
  assert.throws(() => parseFaultSpec("delay ms=-1"), /Invalid ms=-1/);
  assert.throws(() => parseFaultSpec("delay ms=1.5"), /Invalid ms=1.5/);
  assert.throws(() => parseFaultSpec("delay p=2"), /out of range/);
  assert.throws(() => parseFaultSpec("delay on=later"), /new or current/);
  assert.throws(() => parseFaultSpec("hang 5"), /takes no value/);
  assert.throws(
    () => parseFaultSpec("stall-accept on=current"),
    FaultSpecError,
  );
});

Deno.test("formatFaultSpec() round-trips through parseFaultSpec()", () => {
  const spec = parseFaultSpec("drip bytes=3 ms=20 p=0.5 seed=9 on=current");
  assert.equal(
    formatFaultSpec(spec),
    "drip bytes=3 ms=20 p=0.5 seed=9 on=current",
  );
  assert.deepEqual(parseFaultSpec(formatFaultSpec(spec)), spec);
});
