import assert from "node:assert/strict";
import { AgentResponder } from "./agent_responder.ts";
import { AgentState } from "./agent_state.ts";
import { HealthState } from "./health_state.ts";

async function askAgent(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(256);
    // The responder closes after one line: read to EOF, at most 16 reads.
    for (let i = 0; i < 16; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(
      new Uint8Array(chunks.flatMap((c) => [...c])),
    );
  } finally {
    conn.close();
  }
}

Deno.test("AgentResponder answers one line from the current state, then closes", async () => {
  const state = new HealthState();
  const agent = new AgentState("drain");
  const responder = new AgentResponder({
    hostname: "127.0.0.1",
    port: 0,
    state,
    agent,
  });
  try {
    const port = responder.addr.port;
    assert.equal(await askAgent(port), "up ready\n");
    agent.weight = 25;
    assert.equal(await askAgent(port), "up ready 25%\n");
    state.set("BAD");
    assert.equal(await askAgent(port), "drain\n");
    state.set("GOOD");
    agent.drain = true;
    assert.equal(await askAgent(port), "up drain 25%\n");
  } finally {
    await responder.close();
  }
});

Deno.test("AgentResponder.close() stops listening", async () => {
  const responder = new AgentResponder({
    hostname: "127.0.0.1",
    port: 0,
    state: new HealthState(),
    agent: new AgentState(),
  });
  const port = responder.addr.port;
  await responder.close();
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});
