/**
 * One daemon: a long-lived child process with piped stdin, stdout and
 * stderr, read as lines.
 */
import {
  type ByteReader,
  type Line,
  LineReader,
  LineTooLongError,
} from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";

const log = tcpkitLogger("iotcpd", "daemon");
const EMPTY = new Uint8Array(0);
// Longest stderr line logged in one record, in characters.
const MAX_STDERR_LINE = 4096;

/**
 * Why a daemon stopped being usable, first cause seen:
 * - `exited`: the process ended (its status is in `exitStatus`);
 * - `stdout-closed`: end of file on its stdout, possibly after a partial line;
 * - `stdout-error`: reading its stdout failed;
 * - `stdin-closed`: writing a request to its stdin failed (EPIPE);
 * - `reply-too-long`: more than `maxLine` bytes without a newline.
 */
export type DaemonEnd =
  | "exited"
  | "stdout-closed"
  | "stdout-error"
  | "stdin-closed"
  | "reply-too-long";

/** Options of {@linkcode Daemon}. */
export interface DaemonOptions {
  /** Longest output line, in bytes, newline excluded. @default {4096} */
  maxLine?: number;
  /** Words put before the command, e.g. `setpriv --pdeathsig KILL --`. @default {[]} */
  wrapper?: readonly string[];
  /** Name in log records, e.g. `d[0]`. @default {"daemon"} */
  name?: string;
  /** Called with each line the daemon writes on stdout, until it ends. */
  onLine?: (line: Line) => void;
  /**
   * Called once, the first time the daemon writes more than the replies
   * it owes (see {@linkcode Daemon.dirty}); after `onLine` when the extra
   * bytes came with a reply.
   */
  onStray?: () => void;
  /** Called once, when the daemon ends (see {@linkcode DaemonEnd}). */
  onEnd?: (why: DaemonEnd) => void;
  /** After the exit, how long to wait for the rest of stdout and stderr, in ms. @default {100} */
  exitDrainMs?: number;
}

/** The daemon's program could not be started. */
export class DaemonSpawnError extends Error {
  /** The command that failed. */
  readonly command: readonly string[];
  /** Creates the error for a command, with the spawn error as cause. */
  constructor(command: readonly string[], cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`Cannot start daemon ${JSON.stringify(command.join(" "))}: ${why}`, {
      cause,
    });
    this.name = "DaemonSpawnError";
    this.command = command;
  }
}

function countNewlines(bytes: Uint8Array): number {
  let count = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    count++;
  }
  return count;
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.then(() => {}, () => {}),
    new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A child process that reads requests on stdin and answers with lines on
 * stdout. Each daemon runs in its own session and process group
 * (`detached`), so stopping it also stops whatever it started, such as a
 * shell script's `sleep`. Its stderr is logged line by line.
 *
 * The daemon is usable as soon as the constructor returns: the spawn is
 * synchronous and the program has been exec'd by then.
 *
 * @example
 * ```ts ignore
 * import { Daemon } from "./daemon.ts";
 * const daemon = new Daemon(["cat"], {
 *   onLine: (line) => console.log(new TextDecoder().decode(line.bytes)),
 * });
 * daemon.send(new TextEncoder().encode("hello\n")); // logs "hello"
 * await daemon.stop(); // end of file on stdin, then TERM and KILL if need be
 * ```
 */
export class Daemon {
  /** The process id, also its process group id. */
  readonly pid: number;
  /** The name in log records. */
  readonly name: string;
  /** When it was spawned (`performance.now()`, ms). */
  readonly startedAt: number;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: ReadableStreamDefaultReader<Uint8Array>;
  readonly #stderr: ReadableStreamDefaultReader<Uint8Array>;
  readonly #maxLine: number;
  readonly #exitDrainMs: number;
  readonly #onLine: (line: Line) => void;
  readonly #onEnd: (why: DaemonEnd) => void;
  readonly #onStray: () => void;
  readonly #stdoutDone: Promise<void>;
  readonly #stderrDone: Promise<void>;
  readonly #reaped: Promise<Deno.CommandStatus>;
  #endReason: DaemonEnd | undefined;
  #exitStatus: Deno.CommandStatus | undefined;
  #exited = false;
  // Requests sent and not yet answered by a line.
  #owed = 0;
  #strayBytes = 0;
  #strayLines = 0;
  // 0 running, 1 stdin closed, 2 SIGTERM sent, 3 SIGKILL sent.
  #stage = 0;
  #escalation: ReturnType<typeof setTimeout> | undefined;

  /**
   * Spawns the command (`argv[0]` is looked up on PATH).
   *
   * @throws {DaemonSpawnError} when the program cannot be started.
   */
  constructor(argv: readonly string[], options: DaemonOptions = {}) {
    if (argv.length === 0) throw new TypeError("Empty daemon command");
    const maxLine = options.maxLine ?? 4096;
    if (!Number.isInteger(maxLine) || maxLine < 1) {
      throw new RangeError(`Invalid maxLine: ${maxLine}`);
    }
    this.#maxLine = maxLine;
    this.#exitDrainMs = options.exitDrainMs ?? 100;
    this.name = options.name ?? "daemon";
    this.#onLine = options.onLine ?? (() => {});
    this.#onEnd = options.onEnd ?? (() => {});
    this.#onStray = options.onStray ?? (() => {});
    const words = [...(options.wrapper ?? []), ...argv];
    try {
      this.#child = new Deno.Command(words[0]!, {
        args: words.slice(1),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        // setsid(): a process group of its own, signalled as a whole.
        detached: true,
      }).spawn();
    } catch (error) {
      throw new DaemonSpawnError(argv, error);
    }
    this.startedAt = performance.now();
    this.pid = this.#child.pid;
    this.#stdin = this.#child.stdin.getWriter();
    this.#stdout = this.#child.stdout.getReader();
    this.#stderr = this.#child.stderr.getReader();
    this.#stdoutDone = this.#pumpStdout();
    this.#stderrDone = this.#pumpStderr();
    this.#reaped = this.#child.status.then((status) => this.#onExit(status));
  }

  /** Why the daemon ended, once it has; `undefined` while usable. */
  get endReason(): DaemonEnd | undefined {
    return this.#endReason;
  }

  /**
   * True once the daemon has written output beyond the replies it owes
   * (one line per request sent): bytes after a reply line that were
   * already read with it, or bytes that arrived with no request pending.
   * Its next line can no longer be trusted to answer the next request.
   */
  get dirty(): boolean {
    return this.#strayBytes > 0;
  }

  /** Bytes written beyond the replies owed, as far as read so far. */
  get strayBytes(): number {
    return this.#strayBytes;
  }

  /** Newlines among {@linkcode Daemon.strayBytes}. */
  get strayLines(): number {
    return this.#strayLines;
  }

  /** The exit status, once the process has been reaped. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exitStatus;
  }

  /** Resolves with the exit status once the process is reaped and its pipes are closed. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#reaped;
  }

  /**
   * Writes bytes (a request line with its newline) to the daemon's stdin.
   * A failed write ends the daemon with `stdin-closed`.
   */
  send(bytes: Uint8Array): void {
    if (this.#endReason !== undefined || this.#stage > 0) return;
    this.#owed++;
    this.#stdin.write(bytes).catch(() => this.#end("stdin-closed"));
  }

  /**
   * Stops reading the daemon's stdout: whatever it still writes is not
   * read (a daemon flooding its stdout then fails with EPIPE instead of
   * costing iotcpd CPU). For a daemon being killed.
   */
  discardOutput(): void {
    this.#stdout.cancel().catch(() => {});
  }

  /**
   * Stops the daemon politely: end of file on its stdin (helpers such as
   * squidGuard exit on it), then SIGTERM to its process group after
   * `graceMs`, then SIGKILL after `graceMs` more. Resolves once it has been
   * reaped. Safe to call twice, and after {@linkcode Daemon.kill}.
   */
  stop(graceMs = 1000): Promise<Deno.CommandStatus> {
    if (!this.#exited && this.#stage < 1) {
      this.#stage = 1;
      this.#stdin.close().catch(() => {});
      this.#escalate(graceMs);
    }
    return this.#reaped;
  }

  /**
   * SIGTERM to the daemon's process group now, SIGKILL after `graceMs`.
   * Resolves once it has been reaped. Safe to call twice.
   */
  kill(graceMs = 1000): Promise<Deno.CommandStatus> {
    if (!this.#exited && this.#stage < 2) {
      this.#stage = 2;
      this.#signal("SIGTERM");
      this.#escalate(graceMs);
    }
    return this.#reaped;
  }

  /** SIGKILL to the daemon's process group now, synchronously (for a forced exit). */
  killNow(): void {
    if (!this.#exited && this.#stage < 3) {
      this.#stage = 3;
      clearTimeout(this.#escalation);
      this.#signal("SIGKILL");
    }
  }

  /** Same as {@linkcode Daemon.stop} with the default grace. */
  async close(): Promise<void> {
    await this.stop();
  }

  /** Same as {@linkcode Daemon.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #escalate(graceMs: number): void {
    clearTimeout(this.#escalation);
    this.#escalation = setTimeout(() => {
      if (this.#stage < 2) this.kill(graceMs);
      else this.killNow();
    }, graceMs);
  }

  #signal(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.pid, signal);
    } catch {
      // Not a group leader after all, or the group is gone: try the process.
      try {
        if (!this.#exited) this.#child.kill(signal);
      } catch {
        // Exited meanwhile.
      }
    }
  }

  #end(why: DaemonEnd): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = why;
    this.#onEnd(why);
  }

  #stray(parts: Uint8Array[], reply: Line | undefined): void {
    const first = this.#strayBytes === 0;
    for (const part of parts) {
      this.#strayBytes += part.length;
      this.#strayLines += countNewlines(part);
    }
    // With a reply: the caller sees `dirty` before it reuses the daemon.
    if (reply !== undefined && this.#endReason === undefined) {
      this.#onLine(reply);
    }
    if (first && this.#endReason === undefined) this.#onStray();
  }

  async #pumpStdout(): Promise<void> {
    let chunk: Uint8Array = EMPTY;
    const reader = this.#stdout;
    const source: ByteReader = {
      read: async (p: Uint8Array): Promise<number | null> => {
        if (chunk.length === 0) {
          const result = await reader.read();
          if (result.done) return null;
          chunk = result.value;
          // Nothing owed: no line of this can be an answer. Flagged now,
          // before any request can be sent to the daemon again.
          if (this.#owed === 0) this.#stray([chunk], undefined);
        }
        const n = Math.min(p.length, chunk.length);
        p.set(chunk.subarray(0, n));
        chunk = chunk.subarray(n);
        return n;
      },
    };
    const lines = new LineReader(source, { maxLine: this.#maxLine });
    try {
      while (true) {
        const line = await lines.readLine();
        // A last line without newline is no reply: the daemon broke off.
        if (line === null || line.terminator === "") {
          // Usually the exit follows at once: report it, it says more.
          await withTimeout(this.#child.status, this.#exitDrainMs);
          this.#end(this.#exitStatus ? "exited" : "stdout-closed");
          return;
        }
        // Bytes read along with the last reply owed answer nothing.
        if (this.#owed > 0 && --this.#owed === 0) {
          const rest = lines.buffered();
          if (rest.length + chunk.length > 0) {
            this.#stray([rest, chunk], line);
            continue;
          }
        }
        if (this.#endReason === undefined) this.#onLine(line);
      }
    } catch (error) {
      this.#end(
        error instanceof LineTooLongError ? "reply-too-long" : "stdout-error",
      );
    }
  }

  async #pumpStderr(): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    try {
      while (true) {
        const result = await this.#stderr.read();
        if (result.done) break;
        rest += decoder.decode(result.value, { stream: true });
        let newline;
        while ((newline = rest.indexOf("\n")) >= 0) {
          this.#logStderr(rest.slice(0, newline));
          rest = rest.slice(newline + 1);
        }
        if (rest.length > MAX_STDERR_LINE) {
          this.#logStderr(rest);
          rest = "";
        }
      }
    } catch {
      // Cancelled after the exit.
    }
    rest += decoder.decode();
    if (rest !== "") this.#logStderr(rest);
  }

  #logStderr(line: string): void {
    log.info("{name} pid {pid} stderr: {line}", {
      name: this.name,
      pid: this.pid,
      line: line.endsWith("\r") ? line.slice(0, -1) : line,
    });
  }

  async #onExit(status: Deno.CommandStatus): Promise<Deno.CommandStatus> {
    this.#exited = true;
    this.#exitStatus = status;
    clearTimeout(this.#escalation);
    // Whatever the daemon left in its process group goes too, and now:
    // once the group is empty its id may be reused.
    try {
      Deno.kill(-this.pid, "SIGKILL");
    } catch {
      // The group is empty already.
    }
    // A reply written just before exiting may still be in the pipe.
    await withTimeout(
      Promise.all([this.#stdoutDone, this.#stderrDone]),
      this.#exitDrainMs,
    );
    this.#end("exited");
    // Release the pipes even if something outside the group holds them.
    await Promise.allSettled([
      this.#stdout.cancel(),
      this.#stderr.cancel(),
      this.#stdin.abort(),
    ]);
    await Promise.allSettled([this.#stdoutDone, this.#stderrDone]);
    return status;
  }
}

/** Describes how a daemon ended, for logs and errors, e.g. `exited (code 3)`. */
export function describeEnd(
  why: DaemonEnd,
  status: Deno.CommandStatus | undefined,
): string {
  if (why !== "exited" || status === undefined) return why;
  return status.signal
    ? `exited (signal ${status.signal})`
    : `exited (code ${status.code})`;
}
