/**
 * The replies of tcpservd's commands that are answered at once, shared by
 * the ordinary session and the takeover handler so both speak the same
 * protocol.
 */
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
}

/** The context of a session's options: `help` made from `version`, `badQuit` off unless set. */
export function replyContext(options: {
  state: HealthState;
  version: string;
  hostname: string;
  badQuit?: boolean;
}): ReplyContext {
  const { state, version, hostname, badQuit = false } = options;
  return { state, version, hostname, help: helpText(version), badQuit };
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
    case "error":
      return `ERR ${command.message}\n`;
    default:
      return undefined;
  }
}
