/**
 * tcpservd's protocols as handlers of a `TakeoverServer`, so a running test
 * server hands its listener, its clients, their half-received lines and its
 * GOOD/BAD state to a new process (`--takeover` / `--takeover-from`).
 *
 * The takeover machinery pushes input (`onData` returns how much was
 * answered) where the ordinary sessions pull lines from a Deno conn; the
 * replies are the same. Faults, idle timeouts and connection limits belong
 * to the ordinary listener and are not available here.
 */
import type {
  ConnectionHandler,
  JsonValue,
  TakeoverConn,
} from "../takeover/mod.ts";
import { parseCommand } from "./commands.ts";
import { ControlPolicy } from "./control_policy.ts";
import { burnCpu } from "./cpu_loop.ts";
import { immediateReply, replyContext } from "./command_replies.ts";
import { type HealthState, parseHealth } from "./health_state.ts";
import type { CommandSessionOptions } from "./command_session.ts";
import { frameReply, PROMPT } from "./reply_framing.ts";

const encoder = new TextEncoder();
const LF = 0x0a;
const CR = 0x0d;
// A connection's `state` while its startloop runs: its input waits.
const LOOPING = "startloop";

/**
 * Options of {@linkcode takeoverCommandHandler}: a command session's, less
 * faults (the takeover machinery injects none).
 */
export type TakeoverCommandOptions = Omit<CommandSessionOptions, "faults">;

/**
 * tcpservd's line protocol as a takeover handler. A `startloop` is an
 * asynchronous reply: a handover waits for it (or times out and rolls back).
 */
export function takeoverCommandHandler(
  options: TakeoverCommandOptions,
): ConnectionHandler {
  const { maxLine = 4096, maxLoops = 8 } = options;
  const context = replyContext(options);
  const control = options.control ?? new ControlPolicy();
  const framing = options.framing ?? "tcpkit";
  const answer = (conn: TakeoverConn, ...parts: (string | Uint8Array)[]) =>
    conn.write(frameReply(framing, parts));
  let loopsRunning = 0;
  const say = (conn: TakeoverConn, text: string) =>
    conn.write(encoder.encode(text));

  function startLoop(conn: TakeoverConn, seconds: number): void {
    say(conn, "START_LOOP_WAIT\n");
    loopsRunning++;
    conn.state = LOOPING;
    const done = conn.beginReply();
    burnCpu(seconds).then(
      (elapsed) => answer(conn, `END_LOOP: ${Math.round(elapsed)} seconds\n`),
      (error) =>
        answer(
          conn,
          `ERR startloop: ${error instanceof Error ? error.message : error}\n`,
        ),
    ).finally(() => {
      loopsRunning--;
      conn.state = null;
      done();
    });
  }

  return {
    onOpen(conn: TakeoverConn, restored: boolean): void {
      if (!restored) say(conn, PROMPT);
    },
    onData(conn: TakeoverConn, data: Uint8Array): number {
      // Lines sent during a startloop wait, as they would in the kernel.
      if (conn.state === LOOPING) return 0;
      let consumed = 0;
      // A full output stops the answers: a client that pipelines lines and
      // never reads would otherwise queue up to 8 KB per line (--framing
      // original) without bound. The rest comes again once it reads.
      while (!conn.closed && !conn.outputFull) {
        const lf = data.indexOf(LF, consumed);
        if (lf < 0) {
          if (data.length - consumed > maxLine + 1) {
            say(conn, "ERR line too long\n");
            conn.close();
            return data.length;
          }
          return consumed;
        }
        const end = lf > consumed && data[lf - 1] === CR ? lf - 1 : lf;
        const line = data.subarray(consumed, end);
        const raw = data.subarray(consumed, lf + 1);
        consumed = lf + 1;
        if (line.length > maxLine) {
          say(conn, "ERR line too long\n");
          conn.close();
          return data.length;
        }
        const command = parseCommand(line);
        const refusal = control.check(command.name, conn.remoteAddr, conn);
        if (refusal !== undefined) {
          answer(conn, refusal);
          continue;
        }
        const reply = immediateReply(command, context);
        if (command.name === "quit") {
          conn.write(frameReply(framing, [reply!], false));
          conn.close();
          return data.length;
        }
        switch (command.name) {
          case "startloop":
            if (loopsRunning >= maxLoops) {
              answer(conn, `ERR too many loops running (limit ${maxLoops})\n`);
              break;
            }
            startLoop(conn, command.seconds);
            return consumed;
          case "fault":
            answer(conn, "ERR fault: not available with --takeover\n");
            break;
          case "echo":
            answer(conn, raw);
            break;
          default:
            answer(conn, reply!);
        }
      }
      return conn.closed ? data.length : consumed;
    },
  };
}

/**
 * The echo service as a takeover handler: every byte back, nothing kept.
 * Each reply is one read's input, so the unsent bytes stay within the
 * server's `maxUnsentBytes` plus one read (64 KiB): reading stops there.
 */
export function takeoverEchoHandler(): ConnectionHandler {
  return {
    onData(conn: TakeoverConn, data: Uint8Array): number {
      conn.write(data);
      return data.length;
    },
  };
}

/** The application state a handover carries: the GOOD/BAD state. */
export function healthSnapshot(state: HealthState): JsonValue {
  return { health: state.get() };
}

/** Restores the GOOD/BAD state from a handover's application state. */
export function restoreHealth(state: HealthState, snapshot: JsonValue): void {
  if (
    snapshot !== null && typeof snapshot === "object" &&
    !Array.isArray(snapshot)
  ) {
    const health = typeof snapshot.health === "string"
      ? parseHealth(snapshot.health)
      : undefined;
    if (health !== undefined) state.set(health);
  }
}
