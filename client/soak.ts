/**
 * `tcpcli soak`: loads a server with steady traffic, optionally runs a
 * command in the middle (a reload, a takeover, a failover), and reports what
 * it cost the clients. Loaded by tcpcli's main only for `tcpcli soak`, so the
 * probe never pays for it.
 *
 * @module
 */
import { commandPrologue, printErr, printOut } from "../common/mod.ts";
import {
  parseSoakArgs,
  SOAK_ERROR_EXIT,
  SOAK_USAGE,
  type SoakCli,
} from "./soak_cli.ts";
import { runSoakLoad } from "./soak_load.ts";
import { renderReport } from "./soak_report.ts";
import {
  EchoPayload,
  LinePayload,
  type SoakPayload,
  tcpservdPayload,
} from "./soak_payload.ts";
import {
  formatSummary,
  type SoakDuringSummary,
  type SoakSummary,
  summarize,
} from "./soak_summary.ts";
import { type SoakStep, type SoakTimeline, STEP_MS } from "./soak_timeline.ts";

const encoder = new TextEncoder();

/** The payload for the command line's mode; auto picks from the greeting. */
function payloadFor(
  cli: SoakCli,
): SoakPayload | ((greeting: Uint8Array | null) => SoakPayload) {
  switch (cli.mode) {
    case "tcpservd":
      return tcpservdPayload(cli.byNode, cli.send, cli.expect);
    case "echo":
      return new EchoPayload();
    case "line":
      return new LinePayload("line", cli.send!, cli.expect!, cli.byNode);
    case "auto":
      return (greeting) =>
        greeting !== null && greeting[0] === 0x3e
          ? tcpservdPayload(cli.byNode)
          : new EchoPayload();
  }
}

/** Says which permission is missing for what the command line asks, if any. */
async function missingPermission(cli: SoakCli): Promise<string | undefined> {
  if (cli.during !== undefined) {
    const run = await Deno.permissions.query({ name: "run" });
    if (run.state !== "granted") {
      return "--during needs --allow-run (deno task soak grants it)";
    }
  }
  for (
    const [flag, path] of [
      ["--json", cli.json],
      ["--timeline-json", cli.timelineJson],
      ["--report", cli.report],
    ] as const
  ) {
    if (path === undefined || path === "-") continue;
    const write = await Deno.permissions.query({ name: "write", path });
    if (write.state !== "granted") {
      return `${flag} ${path} needs --allow-write (deno task soak grants it)`;
    }
  }
  return undefined;
}

/** How long CMD's output is still forwarded after CMD exited, in ms. */
export const DURING_OUTPUT_GRACE_MS = 500;
/** How long a stopped CMD has between SIGTERM and SIGKILL, in ms. */
export const DURING_KILL_GRACE_MS = 2000;

/** Resolves after `ms`, or when `promise` settles, whichever is first. */
function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.then(() => {}, () => {}),
    new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The --during command: started at a time, its window marked on the
 * timeline. CMD runs in its own session and process group (`detached`), so
 * that what it leaves behind (`sleep 20 &`) can be stopped with it when the
 * load ends, and soak never waits for a process that holds CMD's pipes.
 */
class DuringCommand {
  readonly command: string;
  startMs: number | null = null;
  endMs: number | null = null;
  exitCode: number | null = null;
  #child: Deno.ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #forwarding: Promise<void>[] = [];
  #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(command: string) {
    this.command = command;
  }

  /** Starts CMD `atMs` after `t0`; its output goes to our stderr. */
  schedule(t0: number, atMs: number, timeline: SoakTimeline): void {
    const delay = t0 + atMs - performance.now();
    if (delay <= 0) {
      this.#start(t0, timeline);
      return;
    }
    // Timers may fire a little early: check again then.
    this.#timer = setTimeout(() => this.schedule(t0, atMs, timeline), delay);
  }

  #start(t0: number, timeline: SoakTimeline): void {
    this.#timer = undefined;
    const startMs = performance.now() - t0;
    try {
      this.#child = new Deno.Command("sh", {
        args: ["-c", this.command],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        detached: true,
      }).spawn();
    } catch (error) {
      printErr(`tcpcli soak: cannot run --during command: ${error}\n`);
      return;
    }
    this.startMs = startMs;
    timeline.window = { start: startMs, end: undefined };
    const child = this.#child;
    for (const stream of [child.stdout, child.stderr]) {
      const reader = stream.getReader();
      this.#readers.push(reader);
      this.#forwarding.push((async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            await Deno.stderr.write(value);
          }
        } catch { /* cancelled, or stderr is gone */ }
      })());
    }
    this.#exited = child.status.then((status) => {
      // The window ends when CMD exits, whatever its output still does.
      if (this.endMs === null) {
        this.endMs = performance.now() - t0;
        timeline.window!.end = this.endMs;
      }
      this.exitCode = status.signal === null ? status.code : null;
    });
  }

  /** Sends `signal` to CMD's process group: CMD and what it started. */
  #signalGroup(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.#child!.pid, signal);
    } catch { /* the group is empty */ }
  }

  /**
   * At the end of the load: a CMD still running is stopped (SIGTERM, then
   * SIGKILL after DURING_KILL_GRACE_MS), and so is whatever is left in its
   * process group; its output is forwarded until it exited, plus
   * DURING_OUTPUT_GRACE_MS.
   */
  async finish(): Promise<void> {
    clearTimeout(this.#timer);
    if (this.#child === undefined) return;
    if (this.endMs === null) this.#stopped = true;
    this.#signalGroup("SIGTERM");
    if (this.#stopped) {
      await within(this.#exited, DURING_KILL_GRACE_MS);
      if (this.endMs === null) this.#signalGroup("SIGKILL");
    }
    await this.#exited;
    // A process that left the group (its own session) may still hold the
    // pipes: its output is not ours to wait for.
    await within(Promise.all(this.#forwarding), DURING_OUTPUT_GRACE_MS);
    for (const reader of this.#readers) {
      reader.cancel().catch(() => {});
    }
    await within(Promise.all(this.#forwarding), DURING_OUTPUT_GRACE_MS);
    // Stopped by us: the window never closed on its own.
    if (this.#stopped) {
      this.endMs = null;
      this.exitCode = null;
    }
  }

  summary(): Omit<SoakDuringSummary, "phases"> {
    return {
      command: this.command,
      startMs: this.startMs === null
        ? null
        : Math.round(this.startMs * 10) / 10,
      endMs: this.endMs === null ? null : Math.round(this.endMs * 10) / 10,
      exitCode: this.exitCode,
    };
  }
}

/** What --timeline-json writes: the steps and the --during window. */
function timelineJson(summary: SoakSummary, steps: SoakStep[]): unknown {
  const d = summary.during;
  return {
    stepMs: STEP_MS,
    during: d === null ? null : { startMs: d.startMs, endMs: d.endMs },
    steps,
  };
}

async function writeOutput(path: string, text: string): Promise<void> {
  if (path === "-") {
    await Deno.stdout.write(encoder.encode(text));
    return;
  }
  await Deno.writeTextFile(path, text);
}

/** Runs `tcpcli soak ARGS`; resolves to the exit code. */
export async function soakMain(args: string[]): Promise<number> {
  const cli = commandPrologue({
    name: "tcpcli soak",
    usage: SOAK_USAGE,
    parse: parseSoakArgs,
  }, args);
  if (typeof cli === "number") return cli;
  const missing = await missingPermission(cli);
  if (missing !== undefined) {
    printErr(`tcpcli soak: ${missing}\n`);
    return SOAK_ERROR_EXIT;
  }
  const messages = cli.count ??
    Math.max(1, Math.floor((cli.durationMs * cli.rate) / 1000));
  const during = cli.during === undefined
    ? undefined
    : new DuringCommand(cli.during);
  // Ctrl-C ends the schedule early and still reports; a second one quits.
  const stop = new AbortController();
  const onInterrupt = () => {
    if (stop.signal.aborted) Deno.exit(130);
    printErr("tcpcli soak: SIGINT: ending the load early (again to quit)\n");
    stop.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const result = await runSoakLoad({
    hostname: cli.hostname,
    port: cli.port,
    conns: cli.conns,
    rate: cli.rate,
    connectRate: cli.connectRate,
    perConn: cli.perConn,
    messages,
    timeoutMs: cli.timeoutMs,
    payload: payloadFor(cli),
    byNode: cli.byNode,
    stop: stop.signal,
    onError: (message) => printErr(`tcpcli soak: ${message}\n`),
    onStart: (t0, timeline) => {
      if (!cli.quiet) {
        printErr(
          `tcpcli soak: load started: ${cli.conns} connections, ${cli.rate} messages/s, ${messages} messages\n`,
        );
      }
      during?.schedule(t0, cli.atMs, timeline);
    },
  });
  Deno.removeSignalListener("SIGINT", onInterrupt);
  if (!cli.quiet) printErr("tcpcli soak: load ended\n");
  await during?.finish();
  const summary = summarize(result, {
    hostname: cli.hostname,
    port: cli.port,
    conns: cli.conns,
    rate: cli.rate,
    connectRate: cli.connectRate,
    timeoutMs: cli.timeoutMs,
    durationMs: cli.durationMs,
    byNode: cli.byNode,
  }, during?.summary() ?? null);
  let code: number = summary.exitCode;
  if (!cli.quiet) {
    // stdout may carry JSON: the text then goes to stderr.
    const text = formatSummary(summary);
    if (cli.json === "-" || cli.timelineJson === "-") printErr(text);
    else printOut(text);
  }
  const outputs: [string | undefined, () => string][] = [
    [cli.json, () => `${JSON.stringify(summary)}\n`],
    [
      cli.timelineJson,
      () => `${JSON.stringify(timelineJson(summary, result.timeline.steps))}\n`,
    ],
  ];
  outputs.push([
    cli.report,
    () => renderReport(summary, result.timeline.steps),
  ]);
  for (const [path, render] of outputs) {
    if (path === undefined) continue;
    try {
      await writeOutput(path, render());
    } catch (error) {
      printErr(
        `tcpcli soak: cannot write ${path}: ${(error as Error).message}\n`,
      );
      code = SOAK_ERROR_EXIT;
    }
  }
  return code;
}
