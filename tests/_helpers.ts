/**
 * Helpers for the multi-process tests: start the commands exactly as their
 * `deno task` does, wait for their `listening on` line, talk raw TCP, and
 * never leave a process behind.
 */
import denoConfig from "../deno.json" with { type: "json" };

/** The project root, where deno.json lives. */
export const ROOT: string = new URL("../", import.meta.url).pathname;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The `deno` arguments of a task, e.g. `["run", "--allow-net", …,
 * "server/main.ts"]`, so tests run the commands with the very permissions
 * users get.
 */
export function taskArgs(task: "tcpservd" | "tcpcli" | "iotcpd"): string[] {
  const words = denoConfig.tasks[task].split(/\s+/);
  if (words[0] !== "deno") {
    throw new Error(`Task ${task} does not start with deno`);
  }
  return words.slice(1);
}

/** Resolves after `ms`, for bounding waits only (never to synchronise). */
export function deadline(
  ms: number,
  what: string,
): { promise: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  promise.catch(() => {});
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Races a promise against a deadline. */
export async function within<T>(
  ms: number,
  what: string,
  promise: Promise<T>,
): Promise<T> {
  const limit = deadline(ms, what);
  try {
    return await Promise.race([promise, limit.promise]);
  } finally {
    limit.cancel();
  }
}

/** A spawned command whose stderr is collected line by line. */
export class CommandProcess {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  stdout = "";
  readonly #waiters = new Set<() => void>();
  readonly #pumps: Promise<void>;
  #status: Deno.CommandStatus | undefined;

  constructor(
    args: string[],
    options: { stdin?: "piped" | "null"; command?: string; cwd?: string } = {},
  ) {
    this.child = new Deno.Command(options.command ?? Deno.execPath(), {
      args,
      cwd: options.cwd ?? ROOT,
      stdin: options.stdin ?? "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    }).spawn();
    this.#pumps = Promise.all([this.#pumpStderr(), this.#pumpStdout()]).then(
      () => {},
    );
    this.child.status.then((status) => {
      this.#status = status;
      this.#wake();
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The exit status once known. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  async #pumpStderr(): Promise<void> {
    let rest = "";
    for await (const chunk of this.child.stderr) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      this.lines.push(...parts);
      this.#wake();
    }
    if (rest) this.lines.push(rest);
    this.#wake();
  }

  async #pumpStdout(): Promise<void> {
    for await (const chunk of this.child.stdout) {
      this.stdout += decoder.decode(chunk, { stream: true });
      this.#wake();
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
  }

  /** The stderr text so far. */
  get stderr(): string {
    return this.lines.join("\n");
  }

  /**
   * Waits for a stderr line matching `pattern`, looking at lines from index
   * `from` on (see `lines.length`); fails if the process exits first.
   */
  async waitForLine(
    pattern: RegExp,
    ms = 15000,
    from = 0,
  ): Promise<RegExpMatchArray> {
    const limit = deadline(ms, `a line matching ${pattern}`);
    try {
      while (true) {
        for (; from < this.lines.length; from++) {
          const match = this.lines[from]!.match(pattern);
          if (match) return match;
        }
        if (this.#status) {
          throw new Error(
            `Process exited (${this.#status.code}) before printing ${pattern}:\n${this.stderr}`,
          );
        }
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#waiters.add(resolve);
        try {
          await Promise.race([promise, limit.promise]);
        } finally {
          this.#waiters.delete(resolve);
        }
      }
    } finally {
      limit.cancel();
    }
  }

  /** Sends a signal if the process is still running. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#status) return;
    try {
      this.child.kill(signal);
    } catch {
      // Exited between the check and the kill.
    }
  }

  /** Waits for the exit (bounded) and for all output. */
  async wait(ms = 15000): Promise<Deno.CommandStatus> {
    const status = await within(
      ms,
      `pid ${this.pid} to exit`,
      this.child.status,
    );
    await this.#pumps;
    return status;
  }

  /** Kills the process if it still runs and reaps it. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#status) this.kill("SIGKILL");
    await this.child.status;
    await this.#pumps;
  }
}

/** A running tcpservd with its bound port. */
export class ServerProcess extends CommandProcess {
  hostname = "";
  port = 0;

  /**
   * Starts `tcpservd ARGS` (with `-a 127.0.0.1 -p 0` unless given) and
   * waits for its `listening on` line.
   */
  static async start(
    args: string[] = [],
    options: { command?: string; cwd?: string } = {},
  ): Promise<ServerProcess> {
    const full = [...args];
    if (!full.some((a) => /^(-a|--address)/.test(a))) {
      full.push("-a", "127.0.0.1");
    }
    if (!full.some((a) => /^(-p|--port|-s|--service)/.test(a))) {
      full.push("-p", "0");
    }
    const server = options.command === undefined
      ? new ServerProcess([...taskArgs("tcpservd"), ...full])
      : new ServerProcess(full, {
        command: options.command,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      });
    try {
      const match = await server.waitForLine(
        /listening on (\[[^\]]+\]|[^\s:"]+):(\d+)/,
      );
      server.hostname = match[1]!.replace(/^\[(.*)\]$/, "$1");
      server.port = Number(match[2]);
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
    return server;
  }

  /** How many fds the server process has open, from /proc. */
  fdCount(): Promise<number> {
    return fdCountOf(this.pid);
  }
}

/** The result of a finished tcpcli run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tcpcli ARGS` to completion (bounded) and returns what a user sees. */
export async function runTcpcli(
  args: string[],
  options: { stdin?: string; ms?: number } = {},
): Promise<CliResult> {
  await using cli = new CommandProcess([...taskArgs("tcpcli"), ...args], {
    stdin: options.stdin === undefined ? "null" : "piped",
  });
  if (options.stdin !== undefined) {
    const writer = cli.child.stdin.getWriter();
    await writer.write(encoder.encode(options.stdin));
    await writer.close();
  }
  const status = await cli.wait(options.ms ?? 20000);
  return { code: status.code, stdout: cli.stdout, stderr: cli.stderr };
}

/** Connects to 127.0.0.1:port. */
export function connect(
  port: number,
  hostname = "127.0.0.1",
): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname, port });
}

/**
 * Reads from `conn` until `done(text)` holds or the peer closes; returns the
 * text read. Bounded by `ms`.
 */
export async function readUntil(
  conn: Deno.Conn,
  done: (text: string) => boolean,
  ms = 10000,
): Promise<{ text: string; eof: boolean }> {
  const buf = new Uint8Array(65536);
  let text = "";
  const loop = async () => {
    while (!done(text)) {
      const n = await conn.read(buf);
      if (n === null) return { text, eof: true };
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
    return { text, eof: false };
  };
  return await within(ms, "a reply", loop());
}

/** Reads everything until EOF (bounded); returns the text. */
export async function readToEnd(conn: Deno.Conn, ms = 10000): Promise<string> {
  return (await readUntil(conn, () => false, ms)).text;
}

/** Sends a line (adds "\n") and reads until the next prompt. */
export async function ask(
  conn: Deno.Conn,
  line: string,
  ms = 10000,
): Promise<string> {
  await conn.write(encoder.encode(`${line}\n`));
  const { text, eof } = await readUntil(conn, (t) => t.endsWith("\n> "), ms);
  if (eof) throw new Error(`EOF after "${line}"; got ${JSON.stringify(text)}`);
  return text.slice(0, -2);
}

/** Connects and reads the greeting prompt. */
export async function session(
  port: number,
  hostname = "127.0.0.1",
): Promise<Deno.TcpConn> {
  const conn = await connect(port, hostname);
  try {
    const { text } = await readUntil(conn, (t) => t.length >= 2);
    if (text !== "> ") {
      throw new Error(`Expected the prompt, got ${JSON.stringify(text)}`);
    }
  } catch (error) {
    conn.close();
    throw error;
  }
  return conn;
}

/** Encodes text. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Whether a process with this pid runs: it exists and is not a zombie (an
 * exited orphan waits for init to reap it).
 */
export async function isRunning(pid: number): Promise<boolean> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
  }).output();
  const state = new TextDecoder().decode(out.stdout).trim();
  return out.success && state !== "" && !state.startsWith("Z");
}

/**
 * How many fds a process has open, from /proc/PID/fd (through `ls`: Deno
 * wants --allow-all to read /proc itself).
 */
export async function fdCountOf(pid: number): Promise<number> {
  const out = await new Deno.Command("ls", { args: [`/proc/${pid}/fd`] })
    .output();
  if (!out.success) throw new Error(`Cannot list /proc/${pid}/fd`);
  return decoder.decode(out.stdout).split("\n").filter((l) => l !== "").length;
}

/** Counts this port's server-side sockets in a TCP state (e.g. `close-wait`), from `ss`. */
export async function socketsInState(
  port: number,
  state: string,
): Promise<number> {
  const out = await new Deno.Command("ss", {
    args: ["-tanH", "state", state, `( sport = :${port} )`],
  }).output();
  if (!out.success) throw new Error("Cannot run ss");
  return decoder.decode(out.stdout).split("\n").filter((l) => l.trim())
    .length;
}

export {
  fakeTcpservd,
  fdCountSettled,
  readExactly,
  startTestServer,
  type TcpPair,
  tcpPair,
  type TestServer,
  waitFor,
  type WaitForOptions,
} from "./_kit.ts";
