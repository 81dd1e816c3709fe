/**
 * Parsing of tcpservd's line protocol. Pure: bytes in, a command out.
 */

/** The longest `startloop` accepted, in seconds. */
export const MAX_LOOP_SECONDS = 3600;
/** The `startloop` duration when none is given, in seconds. */
export const DEFAULT_LOOP_SECONDS = 5;

/** The highest `setweight` percentage (HAProxy scales the configured weight by it). */
export const MAX_WEIGHT_PERCENT = 256;
/** The highest `setmaxconn`. */
export const MAX_AGENT_MAXCONN = 1_000_000;

/** A parsed request line. */
export type Command =
  | {
    name:
      | "help"
      | "version"
      | "hostname"
      | "getstatus"
      | "setbad"
      | "setgood"
      | "setdrain"
      | "setready"
      | "agentstatus"
      | "quit";
  }
  | { name: "startloop"; seconds: number }
  | { name: "setweight"; percent: number }
  | { name: "setmaxconn"; maxconn: number }
  | { name: "fault"; spec: string }
  | { name: "error"; message: string }
  | { name: "echo" };

const SIMPLE = new Set([
  "help",
  "version",
  "hostname",
  "getstatus",
  "setbad",
  "setgood",
  "setdrain",
  "setready",
  "agentstatus",
  "quit",
]);
const decoder = new TextDecoder();
const ASCII_BLANKS = /^[ \t\v\f\r]+|[ \t\v\f\r]+$/g;
// The longest line that can be a command, in bytes.
const MAX_COMMAND = 256;

/**
 * Parses one line (terminator removed). Commands are ASCII-case-insensitive
 * and surrounding ASCII blanks are ignored; anything that is not a command is echoed
 * back unchanged, as the original server does.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./commands.ts";
 * parseCommand(new TextEncoder().encode("StartLoop 2")); // { name: "startloop", seconds: 2 }
 * ```
 */
export function parseCommand(line: Uint8Array): Command {
  // Commands are short ASCII; don't decode a long line just to echo it.
  if (line.length > MAX_COMMAND) return { name: "echo" };
  // ASCII blanks and case only: "getstatus\u00a0" or a Kelvin sign is not a command.
  const words = decoder.decode(line).replace(ASCII_BLANKS, "")
    .replace(/[A-Z]/g, (c) => c.toLowerCase()).split(/[ \t]+/);
  const [word = "", ...rest] = words;
  if (SIMPLE.has(word) && rest.length === 0) {
    return { name: word as "help" };
  }
  if (word === "fault" && rest.length > 0) {
    // Keep the spec's own case-insensitivity simple: specs are lower case.
    return { name: "fault", spec: rest.join(" ") };
  }
  if (word === "startloop" && rest.length <= 1) {
    const arg = rest[0];
    if (arg === undefined) {
      return { name: "startloop", seconds: DEFAULT_LOOP_SECONDS };
    }
    const seconds = Number(arg);
    if (!/^\d+(\.\d+)?$/.test(arg) || seconds > MAX_LOOP_SECONDS) {
      return {
        name: "error",
        message:
          `startloop: SECONDS must be a number from 0 to ${MAX_LOOP_SECONDS}`,
      };
    }
    return { name: "startloop", seconds };
  }
  if ((word === "setweight" || word === "setmaxconn") && rest.length <= 1) {
    return agentSetting(word, rest[0]);
  }
  return { name: "echo" };
}

/** `setweight N` (percent) or `setmaxconn N`, or the error saying why not. */
function agentSetting(
  word: "setweight" | "setmaxconn",
  arg: string | undefined,
): Command {
  const max = word === "setweight" ? MAX_WEIGHT_PERCENT : MAX_AGENT_MAXCONN;
  const value = Number(arg);
  if (arg === undefined || !/^\d{1,7}$/.test(arg) || value > max) {
    const what = word === "setweight" ? "PERCENT" : "N";
    return {
      name: "error",
      message: `${word}: ${what} must be an integer from 0 to ${max}`,
    };
  }
  return word === "setweight"
    ? { name: "setweight", percent: value }
    : { name: "setmaxconn", maxconn: value };
}
