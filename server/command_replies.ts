/**
 * The replies of tcpservd's commands that are answered at once, shared by
 * the ordinary session and the takeover handler so both speak the same
 * protocol.
 */
import type { AgentState } from "./agent_state.ts";
import type { Command } from "./commands.ts";
import type { Health, HealthState } from "./health_state.ts";
import { helpText } from "./help_text.ts";

/** What the immediate replies depend on. */
export interface ReplyContext {
  /** The server-wide health state (`setbad`/`setgood` change it). */
  state: HealthState;
  /** Reply to `version`. */
  version: string;
  /** Name in the reply to `hostname`. */
  hostname: string;
  /** The reply to `help`. */
  help: string;
  /** `quit` answers `BAD` instead of `QUIT` while BAD. */
  badQuit: boolean;
  /** HAProxy agent settings (`--agent-port`); none: the agent commands are refused. */
  agent?: AgentState;
}

/** The context of a session's options: `help` made from `version`, `badQuit` off unless set. */
export function replyContext(options: {
  state: HealthState;
  version: string;
  hostname: string;
  badQuit?: boolean;
  agent?: AgentState;
}): ReplyContext {
  const { state, version, hostname, badQuit = false, agent } = options;
  return {
    state,
    version,
    hostname,
    help: helpText(version),
    badQuit,
    ...(agent ? { agent } : {}),
  };
}

/** The agent commands: `setdrain`, `setready`, `setweight`, `setmaxconn`, `agentstatus`. */
function agentReply(
  command: Command,
  context: ReplyContext,
): string {
  const agent = context.agent;
  if (agent === undefined) {
    return `ERR ${command.name}: no agent here (start tcpservd with --agent-port)\n`;
  }
  if (command.name === "setdrain" || command.name === "setready") {
    agent.drain = command.name === "setdrain";
  } else if (command.name === "setweight") {
    agent.weight = command.percent;
  } else if (command.name === "setmaxconn") {
    agent.maxconn = command.maxconn;
  }
  return `Agent says ${agent.line(context.state).trimEnd()}\n`;
}

/**
 * The reply to a command answered at once (without the prompt), or
 * `undefined` for those each session handles itself: `startloop`, `fault`
 * and `echo`. `setbad`/`setgood` change the state; `quit`'s reply is the
 * last thing the connection gets.
 */
export function immediateReply(
  command: Command,
  context: ReplyContext,
): string | undefined {
  const { state } = context;
  switch (command.name) {
    case "help":
      return context.help;
    case "version":
      return `${context.version}\n`;
    case "hostname":
      return `hostname:[${context.hostname}]\n`;
    case "getstatus":
      return `${state.get()}\n`;
    case "setbad":
    case "setgood": {
      const health: Health = command.name === "setbad" ? "BAD" : "GOOD";
      state.set(health);
      return `Status is ${health}\n`;
    }
    case "quit":
      return context.badQuit && state.get() === "BAD" ? "BAD\n" : "QUIT\n";
    case "setdrain":
    case "setready":
    case "setweight":
    case "setmaxconn":
    case "agentstatus":
      return agentReply(command, context);
    case "error":
      return `ERR ${command.message}\n`;
    default:
      return undefined;
  }
}
