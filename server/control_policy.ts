/**
 * Who may change a tcpservd: the commands that change its state
 * (`setbad`, `setgood`, `startloop`, `fault`, and the agent-check's
 * `setdrain`, `setready`, `setweight`, `setmaxconn`) checked against the
 * client's address. Reading commands (`getstatus`, `hostname`, `version`, `help`,
 * `quit`, echo) are open to every client.
 *
 * - Default: `fault` only from loopback; the others from anyone, as the
 *   original's contract says for `setbad`, `setgood` and `startloop`.
 * - `controlFrom`: all of them only from those ranges (loopback is not
 *   added: list it if the host's own clients need control).
 * - `readOnly`: all of them refused, from everyone.
 */
import { type Cidr, cidrContains, LOOPBACK } from "../common/cidr.ts";
import { formatAddr, LogBudget } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";

const log = tcpkitLogger("tcpservd");
// Once per connection, and a few lines a second: a flood of connections
// each sending one refused command must not flood the log.
const budget = new LogBudget();

/** The commands a policy decides on. */
export type ControlCommand =
  | "setbad"
  | "setgood"
  | "startloop"
  | "fault"
  | "setdrain"
  | "setready"
  | "setweight"
  | "setmaxconn";

/** Options of {@linkcode ControlPolicy}. */
export interface ControlPolicyOptions {
  /** Ranges allowed to send every control command; unset: the default rule. */
  controlFrom?: readonly Cidr[];
  /** Refuse every control command. @default {false} */
  readOnly?: boolean;
}

const CONTROL = new Set<string>([
  "setbad",
  "setgood",
  "startloop",
  "fault",
  // What HAProxy's agent-check reports: a balancer acts on it as on health.
  "setdrain",
  "setready",
  "setweight",
  "setmaxconn",
]);

/** A tcpservd's control rule. */
export class ControlPolicy {
  readonly #controlFrom: readonly Cidr[] | undefined;
  readonly #readOnly: boolean;
  // Connections whose refusal was logged: once each, so a flood of refused
  // lines cannot flood the log.
  readonly #logged = new WeakSet<object>();

  /** Builds the rule; no options gives the default. */
  constructor(options: ControlPolicyOptions = {}) {
    this.#controlFrom = options.controlFrom;
    this.#readOnly = options.readOnly ?? false;
  }

  /** Whether `command` changes state, i.e. whether the policy decides on it. */
  static isControl(command: string): command is ControlCommand {
    return CONTROL.has(command);
  }

  /** Whether a client at `address` may send every control command. */
  isController(address: string): boolean {
    if (this.#readOnly) return false;
    return (this.#controlFrom ?? LOOPBACK).some((r) =>
      cidrContains(r, address)
    );
  }

  /**
   * The `ERR …` line refusing `command` from a client at `address`, or
   * `undefined` when it is allowed.
   *
   * @example
   * ```ts
   * import { ControlPolicy } from "./control_policy.ts";
   * new ControlPolicy().refusal("fault", "192.0.2.7");
   * // "ERR fault commands are not allowed from 192.0.2.7\n"
   * ```
   */
  refusal(command: ControlCommand, address: string): string | undefined {
    const what = command === "fault" ? "fault commands are" : `${command} is`;
    if (this.#readOnly) return `ERR ${what} not allowed: read-only server\n`;
    const open = this.#controlFrom === undefined && command !== "fault";
    if (open || this.isController(address)) return undefined;
    return `ERR ${what} not allowed from ${address}\n`;
  }

  /**
   * The session's check: the refusal of `command` (any command name) from
   * `peer` on `connection`, logged once per connection, or `undefined`
   * when it may run.
   */
  check(
    command: string,
    peer: Deno.NetAddr,
    connection: object,
  ): string | undefined {
    if (!ControlPolicy.isControl(command)) return undefined;
    const refusal = this.refusal(command, peer.hostname);
    if (refusal !== undefined && !this.#logged.has(connection)) {
      this.#logged.add(connection);
      const more = budget.tail("refusal");
      if (more !== undefined) {
        log.warn("refused {command} from {peer}{more}", {
          command,
          peer: formatAddr(peer),
          more,
        });
      }
    }
    return refusal;
  }

  /** How the rule reads in a log line. */
  describe(): string {
    if (this.#readOnly) return "read-only: no client may change state";
    if (this.#controlFrom === undefined) {
      return "fault from loopback only; setbad, setgood, startloop and the agent commands from anyone";
    }
    return `setbad, setgood, startloop, fault and the agent commands from ${
      this.#controlFrom.map((r) => r.text).join(", ")
    } only`;
  }
}
