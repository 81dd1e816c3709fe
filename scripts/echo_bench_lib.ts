/**
 * Shared helpers for the echo benchmarks (`scripts/bench_echo.ts`,
 * `scripts/bench_idle_conns.ts`): the server commands, starting and stopping
 * a server child, its CPU time and RSS from /proc, and small bounded-wait
 * utilities. Not part of the published package.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };

/** The repository root (with a trailing slash). */
export const ROOT: string = new URL("../", import.meta.url).pathname;

/**
 * A task's command after `deno` (`run`, its flags, the entry point), so the
 * benchmarks start what users start.
 */
export function taskArgs(task: "tcpservd" | "tcpcli" | "iotcpd"): string[] {
  return denoConfig.tasks[task].split(/\s+/).slice(1);
}

/** The environment variable that overrides the tcpservd side's command. */
export const SERVER_ENV = "TCPKIT_BENCH_ECHO_SERVER";

/** A server under test: a label and the command that starts it. */
export interface ServerSpec {
  name: string;
  cmd: string[];
}

/**
 * The tcpservd side: `tcpservd --echo` on 127.0.0.1, any port, no idle
 * timeout, plus `extra`; or `override` (from `--server` or the
 * {@link SERVER_ENV} variable, split on whitespace) when given.
 */
export function tcpservdSpec(
  extra: string[],
  override: string | undefined,
): ServerSpec {
  const custom = override ?? Deno.env.get(SERVER_ENV);
  if (custom !== undefined && custom.trim() !== "") {
    return { name: "tcpservd", cmd: custom.trim().split(/\s+/) };
  }
  return {
    name: "tcpservd",
    cmd: [
      Deno.execPath(),
      ...taskArgs("tcpservd"),
      "--echo",
      "-a",
      "127.0.0.1",
      "-p",
      "0",
      "--idle-timeout",
      "0",
      // Like for like: the Node baseline sets noDelay too.
      "--nodelay",
      ...extra,
    ],
  };
}

/** The baseline: Node's `net` echo server from scripts/node_echo.mjs. */
export function nodeSpec(): ServerSpec {
  return { name: "node", cmd: ["node", `${ROOT}scripts/node_echo.mjs`] };
}

/** Rejects with a timeout error if `promise` takes longer than `ms`. */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: timed out after ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads a byte stream line by line. */
export class LineReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #buffer = "";
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** The next line without its newline, or null at the end of the stream. */
  async next(): Promise<string | null> {
    while (true) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      if (this.#done) {
        if (this.#buffer === "") return null;
        const rest = this.#buffer;
        this.#buffer = "";
        return rest;
      }
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** Gives the stream up. */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch {
      // Already closed.
    }
  }
}

const STDERR_TAIL = 8192;

/** A server child started from a {@link ServerSpec}. */
export class RunningServer {
  readonly spec: ServerSpec;
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  readonly #tail: { text: string };
  #exited: Deno.CommandStatus | undefined;

  private constructor(
    spec: ServerSpec,
    child: Deno.ChildProcess,
    port: number,
    tail: { text: string },
  ) {
    this.spec = spec;
    this.#child = child;
    this.port = port;
    this.#tail = tail;
    child.status.then((status) => this.#exited = status);
  }

  /**
   * Starts the server with cwd at the repository root, waits (at most
   * `timeoutMs`) for "listening on HOST:PORT" on its stderr, and keeps
   * draining stderr so the server never blocks on a full pipe.
   */
  static async start(
    spec: ServerSpec,
    timeoutMs = 30000,
  ): Promise<RunningServer> {
    const [program, ...args] = spec.cmd;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program!, {
        args,
        cwd: ROOT,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw new Error(
        `${spec.name}: cannot start ${spec.cmd.join(" ")}: ${error}`,
      );
    }
    const tail = { text: "" };
    let resolvePort: (port: number) => void = () => {};
    const portFound = new Promise<number>((resolve) => resolvePort = resolve);
    const drained = (async () => {
      const decoder = new TextDecoder();
      let found = false;
      let head = "";
      for await (const chunk of child.stderr) {
        const text = decoder.decode(chunk, { stream: true });
        tail.text = (tail.text + text).slice(-STDERR_TAIL);
        if (!found) {
          head = (head + text).slice(-STDERR_TAIL);
          const match = head.match(/listening on \S+:(\d+)/);
          if (match) {
            found = true;
            resolvePort(Number(match[1]));
          }
        }
      }
    })();
    const ended = Promise.all([child.status, drained]).then(([status]) => {
      throw new Error(
        `${spec.name} exited (code ${status.code}) before listening: ` +
          `${spec.cmd.join(" ")}\n${tail.text.trimEnd()}`,
      );
    });
    try {
      const port = await withTimeout(
        Promise.race([portFound, ended]),
        timeoutMs,
        `${spec.name} start`,
      );
      return new RunningServer(spec, child, port, tail);
    } catch (error) {
      await stopChild(child);
      throw error;
    }
  }

  /** The server's pid (the command must exec the server, not wrap it). */
  get pid(): number {
    return this.#child.pid;
  }

  /** The last few KB the server wrote on stderr. */
  get stderrTail(): string {
    return this.#tail.text.trimEnd();
  }

  /** Throws if the server has exited. */
  assertAlive(): void {
    if (this.#exited !== undefined) {
      throw new Error(
        `${this.spec.name} exited (code ${this.#exited.code}):\n${this.stderrTail}`,
      );
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs = 3000): Promise<void> {
    return stopChild(this.#child, graceMs);
  }
}

let interruptedBy: string | undefined;

/** Whether {@link onInterrupt}'s cleanup has started (errors then are noise). */
export function interrupted(): boolean {
  return interruptedBy !== undefined;
}

/**
 * On SIGINT or SIGTERM, run `cleanup` (at most 5 s) and exit 130, so an
 * interrupted benchmark leaves no child behind (`finally` blocks do not run
 * on a signal).
 */
export function onInterrupt(cleanup: () => Promise<void>): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      if (interruptedBy !== undefined) return;
      interruptedBy = signal;
      try {
        await withTimeout(cleanup(), 5000, "cleanup");
      } finally {
        Deno.exit(130);
      }
    });
  }
}

/** SIGKILLs every server in `live` and waits for them to exit. */
export async function killServers(live: Set<RunningServer>): Promise<void> {
  await Promise.all([...live].map((server) => server.stop(0)));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopChild(
  child: Deno.ChildProcess,
  graceMs = 3000,
): Promise<void> {
  try {
    child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
  } catch {
    // Already gone.
  }
  try {
    await withTimeout(child.status, graceMs, "stop");
  } catch {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
  }
}

// Deno 2 refuses to read /proc without --allow-all, so /proc is read through
// `cat` (the benchmarks hold --allow-run anyway), outside any load window.
async function catFiles(pattern: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `cat ${pattern} 2>/dev/null; true`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

interface ProcStat {
  pid: number;
  ppid: number;
  ticks: number;
}

/** Every process's pid, ppid and utime+stime (ticks) from /proc/PID/stat. */
async function allStats(): Promise<ProcStat[]> {
  const stats: ProcStat[] = [];
  for (const line of (await catFiles("/proc/[0-9]*/stat")).split("\n")) {
    // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const fields = line.slice(close + 2).split(" ");
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    stats.push({
      pid: Number(line.slice(0, line.indexOf(" "))),
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]),
    });
  }
  return stats;
}

function tree(pid: number, stats: ProcStat[]): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s);
    children.set(s.ppid, list);
  }
  const found = stats.filter((s) => s.pid === pid);
  for (let i = 0; i < found.length && found.length < 10000; i++) {
    found.push(...(children.get(found[i]!.pid) ?? []));
  }
  return found;
}

/** `pid` and all its live descendants (empty if `pid` is gone). */
export async function processTree(pid: number): Promise<number[]> {
  return tree(pid, await allStats()).map((s) => s.pid);
}

/**
 * CPU time (utime + stime, in clock ticks) of `pid` and its live
 * descendants. /proc/PID/stat already sums all threads of a process.
 */
export async function cpuTicks(pid: number): Promise<number> {
  return tree(pid, await allStats()).reduce((sum, s) => sum + s.ticks, 0);
}

/** VmRSS in KiB of `pid` and its descendants, from /proc/PID/status. */
export async function vmRssKb(pid: number): Promise<number> {
  const pids = await processTree(pid);
  if (pids.length === 0) return 0;
  const text = await catFiles(pids.map((p) => `/proc/${p}/status`).join(" "));
  let sum = 0;
  for (const match of text.matchAll(/^VmRSS:\s+(\d+)\s+kB/gm)) {
    sum += Number(match[1]);
  }
  return sum;
}

/** Clock ticks per second (`getconf CLK_TCK`), 100 if that fails. */
export async function clockTicksPerSecond(): Promise<number> {
  try {
    const out = await new Deno.Command("getconf", {
      args: ["CLK_TCK"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const value = Number(new TextDecoder().decode(out.stdout).trim());
    if (out.success && Number.isFinite(value) && value > 0) return value;
  } catch {
    // No getconf.
  }
  return 100;
}

/** Cores and load averages, for the report's header. */
export function machineLine(): string {
  let load = "n/a";
  try {
    load = Deno.loadavg().map((v) => v.toFixed(2)).join(" ");
  } catch {
    // No --allow-sys=loadavg.
  }
  return `machine: ${navigator.hardwareConcurrency} cores, load average ${load}`;
}

/** The median; NaN for no values. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A positive number from a flag, clamped to [min, max]; throws otherwise. */
export function numberFlag(
  name: string,
  text: string,
  min: number,
  max: number,
): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`--${name} must be a positive number, not "${text}"`);
  }
  return Math.max(min, Math.min(max, value));
}

/** A compact rendering: 1234567 → "1.23M", 0.5 → "0.500". */
export function compact(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Renders rows as a table, right-aligning the columns after `textCols`. */
export function table(rows: string[][], textCols = 2): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return rows.map((row) =>
    row.map((cell, i) =>
      i < textCols ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)
    ).join("  ").trimEnd()
  ).join("\n");
}

/**
 * Builds one of the C load generators in scripts/ (`echo_load`,
 * `pool_load`) with `cc -O2` into `dir`; returns the executable's path.
 * Fails with a clear message when there is no C compiler.
 */
export async function compileLoadGenerator(
  name: string,
  dir: string,
): Promise<string> {
  const exe = `${dir}/${name}`;
  const source = `${ROOT}scripts/${name}.c`;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-o", exe, source],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `\`cc\` is not on PATH: install a C compiler (gcc or clang) to build scripts/${name}.c`,
      );
    }
    throw error;
  }
  if (!out.success) {
    throw new Error(
      `cc failed to build scripts/${name}.c:\n${
        new TextDecoder().decode(out.stderr).trimEnd()
      }`,
    );
  }
  return exe;
}
