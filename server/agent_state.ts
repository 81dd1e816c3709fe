/**
 * What tcpservd tells HAProxy's agent-check: the line built from the health
 * state (GOOD/BAD) and the agent's own settings (drain, weight, maxconn),
 * which commands change at run time.
 *
 * Drain is HAProxy's administrative state, not a health: a draining node is
 * healthy (getstatus still answers GOOD, so a plain tcp-check keeps it) but
 * asks the balancer for no new connections while its sessions finish.
 */
import type { HealthState } from "./health_state.ts";

/** What the agent reports while the health is BAD. */
export type AgentBadWord = "down" | "drain";

/** The `--agent-bad` values. */
export const AGENT_BAD_WORDS: readonly AgentBadWord[] = ["down", "drain"];

/** The agent's settings, shared by every connection of one server. */
export class AgentState {
  /** Ask for no new connections (`setdrain`; `setready` undoes it). */
  drain = false;
  /** Weight in percent of the configured weight, once set (`setweight N`). */
  weight: number | undefined = undefined;
  /** The server's maxconn, once set (`setmaxconn N`; 0 is no limit in HAProxy). */
  maxconn: number | undefined = undefined;
  /** The word sent while the health is BAD. */
  readonly badWord: AgentBadWord;

  /**
   * Creates the settings: ready, no weight or maxconn sent.
   *
   * @param badWord What BAD reads as to the balancer.
   */
  constructor(badWord: AgentBadWord = "down") {
    this.badWord = badWord;
  }

  /**
   * The agent's reply line for the current health: `up ready`, `up drain`,
   * then `N%` and `maxconn:N` once set; while BAD, the bad word alone (so a
   * weight never revives a bad node).
   *
   * @example
   * ```ts
   * import { AgentState } from "./agent_state.ts";
   * import { HealthState } from "./health_state.ts";
   * const agent = new AgentState();
   * agent.weight = 50;
   * agent.line(new HealthState()); // "up ready 50%\n"
   * ```
   */
  line(health: HealthState): string {
    if (health.get() === "BAD") {
      // "drain" alone leaves the operating state as it is; "down" needs the
      // "up" of a later GOOD line to undo it, which every GOOD line carries.
      return `${this.badWord}\n`;
    }
    const words = ["up", this.drain ? "drain" : "ready"];
    if (this.weight !== undefined) words.push(`${this.weight}%`);
    if (this.maxconn !== undefined) words.push(`maxconn:${this.maxconn}`);
    return `${words.join(" ")}\n`;
  }

  /** How the settings read in `agentstatus`'s reply. */
  describe(health: HealthState): string {
    return `agent: ${this.line(health).trimEnd()}`;
  }
}
