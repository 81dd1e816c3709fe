import assert from "node:assert/strict";
import { AgentState } from "./agent_state.ts";
import { HealthState } from "./health_state.ts";

Deno.test("AgentState.line() says up ready while GOOD", () => {
  assert.equal(new AgentState().line(new HealthState()), "up ready\n");
});

Deno.test("AgentState.line() says the bad word alone while BAD", () => {
  const bad = new HealthState("BAD");
  const down = new AgentState();
  down.weight = 50;
  down.maxconn = 7;
  assert.equal(down.line(bad), "down\n");
  assert.equal(new AgentState("drain").line(bad), "drain\n");
});

Deno.test("AgentState.line() adds drain, weight and maxconn once set", () => {
  const state = new HealthState();
  const agent = new AgentState();
  agent.drain = true;
  assert.equal(agent.line(state), "up drain\n");
  agent.drain = false;
  agent.weight = 0;
  agent.maxconn = 30;
  assert.equal(agent.line(state), "up ready 0% maxconn:30\n");
  assert.equal(agent.describe(state), "agent: up ready 0% maxconn:30");
});
