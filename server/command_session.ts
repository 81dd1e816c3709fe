/**
 * tcpservd's line protocol on one connection: prompt, commands, replies.
 */
import {
  type Line,
  LineReader,
  LineTooLongError,
  LogBudget,
} from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { type Command, parseCommand } from "./commands.ts";
import { ConnFaults, faultsOf, setFaultsOf } from "./conn_faults.ts";
import { discardUntilEof } from "./fault_session.ts";
import type { FaultSet } from "./fault_set.ts";
import {
  FaultSpecError,
  formatFaultSpec,
  MAX_FAULTS,
  parseFaultSpec,
  TooManyFaultsError,
} from "./fault_spec.ts";
import { SeededRandom } from "./seeded_random.ts";
import {
  immediateReply,
  type ReplyContext,
  replyContext,
} from "./command_replies.ts";
import { burnCpu } from "./cpu_loop.ts";
import { ControlPolicy } from "./control_policy.ts";
import { frameReply, PROMPT, type ReplyFraming } from "./reply_framing.ts";
import type { HealthState } from "./health_state.ts";
import type { AgentState } from "./agent_state.ts";
import type { ServerConn } from "../net/server_conn.ts";
import type { ConnectionHandler } from "../net/tcp_server.ts";

const log = tcpkitLogger("tcpservd");
// Lines a remote client can cause: a flood of them must not flood the log.
const budget = new LogBudget();

/** The reply to a last line without a newline (cut by end of stream). */
export const INCOMPLETE_LINE =
  "ERR incomplete line: no newline before end of stream\n";

export { PROMPT };

/** Told what a command session does, for metrics (see `server_metrics.ts`). */
export interface CommandObserver {
  /** A request line was parsed as command `name` (before the control check). */
  command(name: string): void;
  /** A `startloop` started (`started`) or ended; `running` is how many run now. */
  loops(running: number, started: boolean): void;
}

/** What a command session needs to know about its server. */
export interface CommandSessionOptions {
  /** The server-wide health state. */
  state: HealthState;
  /** Reply to `version`. */
  version: string;
  /** Name in the reply to `hostname`. */
  hostname: string;
  /** `quit` answers `BAD` instead of `QUIT` while the state is BAD. @default {false} */
  badQuit?: boolean;
  /** Longest request line in bytes. @default {4096} */
  maxLine?: number;
  /** Most `startloop`s running at once on the server. @default {8} */
  maxLoops?: number;
  /** The server's faults, which the `fault` command changes; none: `fault` is refused. */
  faults?: FaultSet;
  /** Who may send setbad, setgood, startloop and fault. @default {new ControlPolicy()} */
  control?: ControlPolicy;
  /** How replies are cut on the wire (see `reply_framing.ts`). @default {"tcpkit"} */
  framing?: ReplyFraming;
  /** Told about commands and loops (metrics); none: nobody is. */
  observer?: CommandObserver;
  /** HAProxy agent settings, changed by the agent commands; none: they are refused. */
  agent?: AgentState;
}

/**
 * Builds the handler that speaks tcpservd's protocol. The handler never
 * throws for bad input: over-long lines get `ERR line too long` and a
 * close, anything unknown is echoed.
 */
export function commandSession(
  options: CommandSessionOptions,
): ConnectionHandler {
  const protocol = new CommandProtocol(options);
  return (conn) => protocol.handle(conn);
}

/** tcpservd's line protocol, one instance per server (it counts the loops). */
class CommandProtocol {
  readonly #state: HealthState;
  readonly #maxLine: number;
  readonly #maxLoops: number;
  readonly #faults: FaultSet | undefined;
  readonly #control: ControlPolicy;
  readonly #framing: ReplyFraming;
  readonly #context: ReplyContext;
  readonly #observer: CommandObserver | undefined;
  #loopsRunning = 0;

  constructor(options: CommandSessionOptions) {
    this.#state = options.state;
    this.#maxLine = options.maxLine ?? 4096;
    this.#maxLoops = options.maxLoops ?? 8;
    this.#faults = options.faults;
    this.#control = options.control ?? new ControlPolicy();
    this.#framing = options.framing ?? "tcpkit";
    this.#context = replyContext(options);
    this.#observer = options.observer;
  }

  async #startLoop(conn: ServerConn, seconds: number): Promise<string> {
    if (this.#loopsRunning >= this.#maxLoops) {
      return `ERR too many loops running (limit ${this.#maxLoops})\n`;
    }
    this.#loopsRunning++;
    this.#observer?.loops(this.#loopsRunning, true);
    const abort = new AbortController();
    conn.onDrain(() => abort.abort());
    try {
      await conn.writeAll("START_LOOP_WAIT\n");
      log.info("connection {id} burns one CPU core for {seconds} s", {
        id: conn.id,
        seconds,
      });
      const elapsed = await burnCpu(seconds, abort.signal);
      return `END_LOOP: ${Math.round(elapsed)} seconds\n`;
    } finally {
      this.#loopsRunning--;
      this.#observer?.loops(this.#loopsRunning, false);
    }
  }

  /**
   * `fault SPEC | list | clear`. Returns the reply, and whether the
   * connection's own faults must act now (`on=current`).
   */
  #faultCommand(
    conn: ServerConn,
    text: string,
  ): { reply: string; actNow: boolean } {
    const faults = this.#faults;
    if (!faults) {
      return { reply: "ERR fault: not available here\n", actNow: false };
    }
    if (text === "list") {
      const list = this.#faults.list();
      if (list.length === 0) return { reply: "no faults\n", actNow: false };
      return {
        reply: list.map((f) =>
          `fault ${f.id}: ${formatFaultSpec(f.spec)} seed=${f.random.seed}\n`
        )
          .join(""),
        actNow: false,
      };
    }
    if (text === "clear") {
      return {
        reply: `OK ${this.#faults.clear()} faults cleared\n`,
        actNow: false,
      };
    }
    let spec;
    try {
      spec = parseFaultSpec(text);
    } catch (error) {
      if (!(error instanceof FaultSpecError)) throw error;
      return { reply: `ERR fault: ${error.message}\n`, actNow: false };
    }
    const tooMany = `ERR too many faults (limit ${MAX_FAULTS})\n`;
    if (spec.on === "new") {
      let fault;
      try {
        fault = this.#faults.add(spec);
      } catch (error) {
        if (!(error instanceof TooManyFaultsError)) throw error;
        return { reply: tooMany, actNow: false };
      }
      return {
        reply: `OK fault ${fault.id}: ${
          formatFaultSpec(spec)
        } seed=${fault.random.seed}\n`,
        actNow: false,
      };
    }
    const random = new SeededRandom(spec.seed);
    if (!random.chance(spec.p)) {
      return { reply: "OK fault not drawn (p)\n", actNow: false };
    }
    let ownFaults = faultsOf(conn);
    if (ownFaults === undefined) {
      setFaultsOf(conn, ownFaults = new ConnFaults());
    }
    try {
      ownFaults.add(spec, random);
    } catch (error) {
      if (!(error instanceof TooManyFaultsError)) throw error;
      return { reply: tooMany, actNow: false };
    }
    log.info("fault {fault} applied to connection {id} from {peer}", {
      fault: formatFaultSpec(spec),
      id: conn.id,
      peer: conn.peer,
    });
    faults.noteApplied(spec.name);
    return {
      reply: `OK fault on this connection: ${formatFaultSpec(spec)}\n`,
      actNow: true,
    };
  }

  /**
   * The next request line, or `null` when the session is over: end of
   * stream, an over-long line (answered and closed), or a last line cut by
   * end of stream (answered, not run: the client may have died mid-write).
   */
  async #readRequest(
    conn: ServerConn,
    reader: LineReader,
  ): Promise<Line | null> {
    let line;
    try {
      line = await reader.readLine();
    } catch (error) {
      if (!(error instanceof LineTooLongError)) throw error;
      const more = budget.tail("long-line");
      if (more !== undefined) {
        log.warn(
          "connection {id} from {peer}: line longer than {maxLine} bytes{more}",
          { id: conn.id, peer: conn.peer, maxLine: this.#maxLine, more },
        );
      }
      await conn.lingeringClose("ERR line too long\n");
      return null;
    }
    if (line?.terminator === "") {
      await conn.writeAll(frameReply(this.#framing, [INCOMPLETE_LINE], false));
      return null;
    }
    return line;
  }

  /** The reply of a command answered at once; logs a change of state. */
  #immediate(conn: ServerConn, command: Command): string | undefined {
    const previous = this.#state.get();
    const agent = this.#context.agent;
    const agentBefore = agent?.line(this.#state);
    const reply = immediateReply(command, this.#context);
    const agentNow = agent?.line(this.#state);
    // What the balancer will be told changed, and not by a health change
    // (logged below): an agent command did it.
    if (agentNow !== agentBefore && this.#state.get() === previous) {
      const moreAgent = budget.tail("state");
      if (moreAgent !== undefined) {
        log.info(
          "agent {previous} -> {line} (connection {id} from {peer}){more}",
          {
            previous: agentBefore?.trim(),
            line: agentNow?.trim(),
            id: conn.id,
            peer: conn.peer,
            more: moreAgent,
          },
        );
      }
    }
    const more = this.#state.get() !== previous
      ? budget.tail("state")
      : undefined;
    if (more !== undefined) {
      log.info(
        "state {previous} -> {health} (connection {id} from {peer}){more}",
        {
          previous,
          health: this.#state.get(),
          id: conn.id,
          peer: conn.peer,
          more,
        },
      );
    }
    return reply;
  }

  /**
   * Sends the OK of a `fault … on=current`, then lets the fault act on this
   * connection. Returns false when the session is over.
   */
  async #actOnOwnFaults(
    conn: ServerConn,
    ok: string,
  ): Promise<boolean> {
    // The OK goes out before the fault changes how we write.
    const faultsOfConn = faultsOf(conn)!;
    conn.writeHook = undefined;
    await conn.writeAll(frameReply(this.#framing, [ok]));
    conn.writeHook = faultsOfConn;
    conn.busy = false;
    if (!(await faultsOfConn.open(conn))) return false;
    if (!faultsOfConn.zeroWindow && !faultsOfConn.hang) return true;
    // Stop reading (zero-window) or stop replying (hang) from now on,
    // until a drain or a clear (SIGHUP included).
    conn.busy = true;
    await Promise.race([
      faultsOfConn.hang ? discardUntilEof(conn) : conn.whenDraining(),
      ...(this.#faults ? [this.#faults.whenCleared()] : []),
    ]);
    return false;
  }

  /** Serves one connection. */
  async handle(conn: ServerConn): Promise<void> {
    const reader = new LineReader(conn, { maxLine: this.#maxLine });
    // Only a whole line is activity: a client trickling bytes without a
    // newline (slowloris) must not keep its slot past the idle timeout.
    conn.readsAreActivity = false;
    await conn.writeAll(PROMPT);
    while (!conn.draining) {
      const line = await this.#readRequest(conn, reader);
      if (line === null) return;
      conn.activity++;
      conn.busy = true;
      const command = parseCommand(line.bytes);
      this.#observer?.command(command.name);
      log.debug("connection {id} command {command}", {
        id: conn.id,
        command: command.name,
      });
      const refusal = this.#control.check(
        command.name,
        conn.conn.remoteAddr,
        conn,
      );
      let reply: string;
      if (refusal !== undefined) {
        reply = refusal;
      } else if (command.name === "quit") {
        const bye = this.#immediate(conn, command)!;
        await conn.writeAll(frameReply(this.#framing, [bye], false));
        return;
      } else if (command.name === "startloop") {
        reply = await this.#startLoop(conn, command.seconds);
      } else if (command.name === "fault") {
        const { reply: text, actNow } = this.#faultCommand(conn, command.spec);
        if (actNow) {
          if (!(await this.#actOnOwnFaults(conn, text))) return;
          continue;
        }
        reply = text;
      } else if (command.name === "echo") {
        const end = line.terminator || "\n";
        await conn.writeAll(frameReply(this.#framing, [line.bytes, end]));
        conn.busy = false;
        continue;
      } else {
        reply = this.#immediate(conn, command)!;
      }
      await conn.writeAll(frameReply(this.#framing, [reply], !conn.draining));
      conn.busy = false;
    }
  }
}
