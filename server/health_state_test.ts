import assert from "node:assert/strict";
import { type Health, HealthState, parseHealth } from "./health_state.ts";

Deno.test("HealthState() starts GOOD by default", () => {
  assert.equal(new HealthState().get(), "GOOD");
});

Deno.test("HealthState() starts in the state given", () => {
  assert.equal(new HealthState("BAD").get(), "BAD");
});

Deno.test("HealthState.set() changes what get() returns", () => {
  const state = new HealthState();
  state.set("BAD");
  assert.equal(state.get(), "BAD");
  state.set("GOOD");
  assert.equal(state.get(), "GOOD");
});

Deno.test("HealthState.subscribe() calls the listener with the new and old state", () => {
  const state = new HealthState();
  const calls: [Health, Health][] = [];
  state.subscribe((health, previous) => calls.push([health, previous]));
  state.set("BAD");
  state.set("GOOD");
  assert.deepEqual(calls, [["BAD", "GOOD"], ["GOOD", "BAD"]]);
});

Deno.test("HealthState.subscribe() does not call the listener when the state does not change", () => {
  const state = new HealthState("BAD");
  const calls: [Health, Health][] = [];
  state.subscribe((health, previous) => calls.push([health, previous]));
  state.set("BAD");
  state.set("BAD");
  assert.deepEqual(calls, []);
  state.set("GOOD");
  state.set("GOOD");
  assert.deepEqual(calls, [["GOOD", "BAD"]]);
});

Deno.test("HealthState.subscribe() calls every listener", () => {
  const state = new HealthState();
  const seen: string[] = [];
  state.subscribe((health) => seen.push(`a:${health}`));
  state.subscribe((health) => seen.push(`b:${health}`));
  state.set("BAD");
  assert.deepEqual(seen.sort(), ["a:BAD", "b:BAD"]);
});

Deno.test("HealthState.subscribe() returns a function that unsubscribes", () => {
  const state = new HealthState();
  const calls: Health[] = [];
  const unsubscribe = state.subscribe((health) => calls.push(health));
  state.set("BAD");
  unsubscribe();
  state.set("GOOD");
  assert.deepEqual(calls, ["BAD"]);
  assert.equal(state.get(), "GOOD");
});

Deno.test("HealthState.subscribe() unsubscribing one listener keeps the others", () => {
  const state = new HealthState();
  const calls: string[] = [];
  const unsubscribeA = state.subscribe(() => calls.push("a"));
  state.subscribe(() => calls.push("b"));
  unsubscribeA();
  state.set("BAD");
  assert.deepEqual(calls, ["b"]);
});

Deno.test("parseHealth() parses good and bad in any case and with blanks", () => {
  assert.equal(parseHealth("good"), "GOOD");
  assert.equal(parseHealth("GOOD"), "GOOD");
  assert.equal(parseHealth("Bad"), "BAD");
  assert.equal(parseHealth(" bad\n"), "BAD");
});

Deno.test("parseHealth() returns undefined for anything else", () => {
  for (const text of ["", "ugly", "goodx", "ok", "g ood"]) {
    assert.equal(parseHealth(text), undefined, text);
  }
});
