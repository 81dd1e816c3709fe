import assert from "node:assert/strict";
import {
  immediateReply,
  type ReplyContext,
  replyContext,
} from "./command_replies.ts";
import { helpText } from "./help_text.ts";
import { parseCommand } from "./commands.ts";
import { HealthState } from "./health_state.ts";
import { AgentState } from "./agent_state.ts";

function context(badQuit = false): ReplyContext {
  return {
    state: new HealthState(),
    version: "9.9.9",
    hostname: "node1",
    help: "HELP\n",
    badQuit,
  };
}

const reply = (line: string, ctx: ReplyContext) =>
  immediateReply(parseCommand(new TextEncoder().encode(line)), ctx);

Deno.test("immediateReply() answers the simple commands", () => {
  const ctx = context();
  assert.equal(reply("help", ctx), "HELP\n");
  assert.equal(reply("version", ctx), "9.9.9\n");
  assert.equal(reply("hostname", ctx), "hostname:[node1]\n");
  assert.equal(reply("getstatus", ctx), "GOOD\n");
  assert.equal(
    reply("startloop 9999", ctx),
    "ERR startloop: SECONDS must be a number from 0 to 3600\n",
  );
});

Deno.test("immediateReply() flips the state on setbad and setgood", () => {
  const ctx = context();
  assert.equal(reply("setbad", ctx), "Status is BAD\n");
  assert.equal(ctx.state.get(), "BAD");
  assert.equal(reply("getstatus", ctx), "BAD\n");
  assert.equal(reply("setgood", ctx), "Status is GOOD\n");
  assert.equal(ctx.state.get(), "GOOD");
});

Deno.test("immediateReply() answers quit with BAD only with badQuit while BAD", () => {
  const plain = context();
  plain.state.set("BAD");
  assert.equal(reply("quit", plain), "QUIT\n");
  const bad = context(true);
  assert.equal(reply("quit", bad), "QUIT\n");
  bad.state.set("BAD");
  assert.equal(reply("quit", bad), "BAD\n");
});

Deno.test("immediateReply() leaves startloop, fault and echo to the session", () => {
  const ctx = context();
  assert.equal(reply("startloop 1", ctx), undefined);
  assert.equal(reply("fault list", ctx), undefined);
  assert.equal(reply("hello", ctx), undefined);
});

Deno.test("replyContext() makes help from the version and leaves badQuit off unless set", () => {
  const state = new HealthState("GOOD");
  const context = replyContext({ state, version: "9.9", hostname: "h" });
  assert.equal(context.help, helpText("9.9"));
  assert.equal(context.badQuit, false);
  assert.equal(context.state, state);
  assert.equal(
    replyContext({ state, version: "9.9", hostname: "h", badQuit: true })
      .badQuit,
    true,
  );
});

Deno.test("immediateReply() changes the agent's line with the agent commands", () => {
  const ctx = { ...context(), agent: new AgentState() };
  assert.equal(reply("agentstatus", ctx), "Agent says up ready\n");
  assert.equal(reply("setweight 50", ctx), "Agent says up ready 50%\n");
  assert.equal(
    reply("setmaxconn 3", ctx),
    "Agent says up ready 50% maxconn:3\n",
  );
  assert.equal(reply("setdrain", ctx), "Agent says up drain 50% maxconn:3\n");
  assert.equal(ctx.agent.drain, true);
  // Drain is not a health: getstatus still answers GOOD.
  assert.equal(reply("getstatus", ctx), "GOOD\n");
  assert.equal(reply("setready", ctx), "Agent says up ready 50% maxconn:3\n");
  reply("setbad", ctx);
  assert.equal(reply("agentstatus", ctx), "Agent says down\n");
});

Deno.test("immediateReply() refuses the agent commands without an agent", () => {
  assert.equal(
    reply("setdrain", context()),
    "ERR setdrain: no agent here (start tcpservd with --agent-port)\n",
  );
  assert.equal(
    reply("setweight 5", context()),
    "ERR setweight: no agent here (start tcpservd with --agent-port)\n",
  );
});
