/**
 * Helpers for the iotcpd multi-process tests: start `pool/main.ts` with the
 * flags of the `iotcpd` task, talk to it over TCP, read its SIGUSR1 and
 * SIGUSR2 output, and write daemon scripts into a temporary directory.
 */
import {
  CommandProcess,
  fdCountOf,
  isRunning,
  taskArgs,
  waitFor,
  within,
} from "./_helpers.ts";

/** The `deno run` permissions of the `iotcpd` task, so tests run iotcpd as users do. */
export const IOTCPD_RUN_FLAGS: readonly string[] = taskArgs("iotcpd").filter((
  a,
) => a.startsWith("--"));

/** The `deno` arguments that run iotcpd with `args`. */
export function iotcpdArgs(args: readonly string[]): string[] {
  return ["run", ...IOTCPD_RUN_FLAGS, "pool/main.ts", ...args];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The labels of the SIGUSR1 block's counter lines, in order. */
export const USR1_LABELS: readonly string[] = [
  "queries total",
  "queries replied",
  "queries delayed",
  "queries timeout",
  "queries failed",
  "queries unknown",
  "queries 0-100",
  "queries 100-250",
  "queries 250-500",
  "queries 500-750",
  "queries 750-1000",
  "queries 1000-",
  "daemon spawns",
  "daemon S_AVAILABLE",
  "daemon S_BUSY",
  "daemon S_SPAWNING",
  "daemon S_STARTING",
];

/** The SIGUSR1 block, parsed. */
export interface Usr1Stats {
  /** Each counter by its label, e.g. `"queries total"`. */
  counters: Record<string, number>;
  /** The latency buckets, 0-100 to 1000-. */
  buckets: number[];
  /** The `uptime` line. */
  uptime: number;
  /** The `version` line. */
  version: string;
  /** The block's lines, markers included. */
  lines: string[];
}

/** One row of the SIGUSR2 table. */
export interface DaemonRow {
  slot: number;
  pid: number | null;
  state: string;
  requests: number;
  replies: number;
  failures: number;
  spawns: number;
  kills: number;
}

/** The SIGUSR2 table, parsed. */
export interface Usr2Table {
  rows: DaemonRow[];
  retiring: number;
}

/**
 * Parses the SIGUSR1 block strictly: every line must have the original's
 * exact shape (labels padded to column 19), or this throws.
 */
export function parseUsr1(lines: readonly string[]): Usr1Stats {
  const expectLine = (index: number, pattern: RegExp): RegExpMatchArray => {
    const line = lines[index];
    const match = line?.match(pattern);
    if (!match) {
      throw new Error(
        `USR1 line ${index} ${JSON.stringify(line)} !~ ${pattern}`,
      );
    }
    return match;
  };
  if (lines.length !== USR1_LABELS.length + 4) {
    throw new Error(
      `USR1 block has ${lines.length} lines:\n${lines.join("\n")}`,
    );
  }
  expectLine(0, /^ --- statistics ---- >8 -------$/);
  const counters: Record<string, number> = {};
  USR1_LABELS.forEach((label, i) => {
    const escaped = label.padEnd(19).replace(/[-]/g, "\\-");
    counters[label] = Number(
      expectLine(i + 1, new RegExp(`^${escaped}(\\d+)$`))[1],
    );
  });
  const uptime = Number(
    expectLine(USR1_LABELS.length + 1, /^uptime {3}(\d+)$/)[1],
  );
  const version = expectLine(USR1_LABELS.length + 2, /^version {2}(\S+)$/)[1]!;
  expectLine(USR1_LABELS.length + 3, /^ --- statistics ---- 8< -------$/);
  return {
    counters,
    buckets: USR1_LABELS.slice(6, 12).map((label) => counters[label]!),
    uptime,
    version,
    lines: [...lines],
  };
}

/** A running iotcpd with its bound port. */
export class IotcpdProcess extends CommandProcess {
  /** The port of the first listener. */
  port = 0;

  /**
   * Starts `iotcpd ARGS` (with `-p 0` unless a port is given) and waits
   * for its first `listening on` line.
   */
  static async start(args: readonly string[] = []): Promise<IotcpdProcess> {
    const full = [...args];
    if (!full.some((a) => /^(-p|--port)/.test(a))) full.push("-p", "0");
    const proc = new IotcpdProcess(iotcpdArgs(full));
    try {
      const match = await proc.waitForLine(
        /listening on (\[[^\]]+\]|[^\s:"]+):(\d+)/,
      );
      proc.port = Number(match[2]);
    } catch (error) {
      await proc[Symbol.asyncDispose]();
      throw error;
    }
    return proc;
  }

  /** Sends SIGUSR1 and parses the block it prints. */
  async statistics(ms = 5000): Promise<Usr1Stats> {
    const from = this.lines.length;
    this.kill("SIGUSR1");
    await this.waitForLine(/^ --- statistics ---- 8< -------$/, ms, from);
    const start = this.lines.indexOf(" --- statistics ---- >8 -------", from);
    const end = this.lines.indexOf(" --- statistics ---- 8< -------", start);
    return parseUsr1(this.lines.slice(start, end + 1));
  }

  /** Sends SIGUSR2 and parses the table it prints. */
  async daemons(ms = 5000): Promise<Usr2Table> {
    const from = this.lines.length;
    this.kill("SIGUSR2");
    await this.waitForLine(/^ --- daemons ---- 8< -------$/, ms, from);
    const start = this.lines.indexOf(" --- daemons ---- >8 -------", from);
    const end = this.lines.indexOf(" --- daemons ---- 8< -------", start);
    const block = this.lines.slice(start + 2, end);
    const rows: DaemonRow[] = [];
    let retiring = -1;
    for (const line of block) {
      const retire = line.match(/^retiring (\d+)/);
      if (retire) {
        retiring = Number(retire[1]);
        continue;
      }
      const cells = line.split(/ +/);
      rows.push({
        slot: Number(cells[0]!.slice(2, -1)),
        pid: cells[1] === "-" ? null : Number(cells[1]),
        state: cells[2]!,
        requests: Number(cells[3]),
        replies: Number(cells[4]),
        failures: Number(cells[5]),
        spawns: Number(cells[6]),
        kills: Number(cells[7]),
      });
    }
    return { rows, retiring };
  }

  /**
   * Waits (bounded) until the pool is quiet: no daemon being stopped,
   * every slot has a live daemon, none busy. Returns the table.
   */
  async settled(ms = 10000): Promise<Usr2Table> {
    // Respawns and reaping take a few ms and send no event: ask again.
    return await waitFor(async () => {
      const table = await this.daemons();
      const quiet = table.retiring === 0 &&
        table.rows.every((r) => r.pid !== null && r.state !== "S_BUSY");
      return quiet ? table : undefined;
    }, { what: "a settled pool", ms, intervalMs: 50 });
  }

  /** How many fds iotcpd has open, from /proc. */
  fdCount(): Promise<number> {
    return fdCountOf(this.pid);
  }

  /** iotcpd's child processes: pid and `ps` state (Z for a zombie). */
  async children(): Promise<{ pid: number; state: string }[]> {
    const out = await new Deno.Command("ps", {
      args: ["--ppid", String(this.pid), "-o", "pid=,stat="],
      stdout: "piped",
    }).output();
    return decoder.decode(out.stdout).split("\n").map((l) => l.trim())
      .filter((l) => l !== "").map((l) => {
        const [pid, state] = l.split(/\s+/);
        return { pid: Number(pid), state: state ?? "" };
      });
  }
}

/** The bytes of a text. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Connects, sends `data` (add the newline yourself), reads until the
 * server closes, and returns what came back and how long it took (ms).
 */
export async function exchange(
  port: number,
  data: string | Uint8Array,
  options: { hostname?: string; ms?: number; closeWrite?: boolean } = {},
): Promise<{ reply: Uint8Array; text: string; ms: number }> {
  const started = performance.now();
  const conn = await Deno.connect({
    hostname: options.hostname ?? "127.0.0.1",
    port,
  });
  try {
    const out = typeof data === "string" ? encoder.encode(data) : data;
    for (let off = 0; off < out.length;) {
      off += await conn.write(out.subarray(off));
    }
    if (options.closeWrite) await conn.closeWrite();
    const reply = await within(
      options.ms ?? 10000,
      "a reply and EOF",
      (async () => {
        const chunks: number[] = [];
        const buf = new Uint8Array(8192);
        while (true) {
          let n: number | null;
          try {
            n = await conn.read(buf);
          } catch (error) {
            if (error instanceof Deno.errors.ConnectionReset) break;
            throw error;
          }
          if (n === null) break;
          chunks.push(...buf.subarray(0, n));
        }
        return new Uint8Array(chunks);
      })(),
    );
    return {
      reply,
      text: decoder.decode(reply),
      ms: performance.now() - started,
    };
  } finally {
    conn.close();
  }
}

/** Sends one line, returns the text that came back before EOF. */
export async function ask(
  port: number,
  line: string,
  options: { hostname?: string; ms?: number } = {},
): Promise<string> {
  return (await exchange(port, `${line}\n`, options)).text;
}

/**
 * Runs `count` tasks with at most `concurrency` at once; resolves to their
 * results in order. Bounded in count by construction.
 */
export async function pooled<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, worker),
  );
  return results;
}

/** A temporary directory for daemon scripts, removed on dispose. */
export class ScriptDir {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Creates the directory. */
  static async create(): Promise<ScriptDir> {
    return new ScriptDir(await Deno.makeTempDir({ prefix: "iotcpd_test_" }));
  }

  /** Writes an executable `/bin/sh` script; returns its path. */
  async script(name: string, body: string): Promise<string> {
    const path = `${this.path}/${name}`;
    await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
    await Deno.chmod(path, 0o755);
    return path;
  }

  /** Removes the directory and its scripts. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.path, { recursive: true });
  }
}

/** Waits (bounded) until none of `pids` runs; returns those still running. */
export async function waitGone(
  pids: readonly number[],
  ms = 5000,
): Promise<number[]> {
  let alive = [...pids];
  try {
    // An exit seen from outside has no event to await: poll with ps.
    await waitFor(async () => {
      const still: number[] = [];
      for (const pid of alive) if (await isRunning(pid)) still.push(pid);
      alive = still;
      return alive.length === 0;
    }, { what: `pids ${pids.join(", ")} to exit`, ms, intervalMs: 50 });
  } catch {
    // The caller asserts on the pids left.
  }
  return alive;
}

/**
 * The test daemon: `ok LINE` for any line, except lines starting with a
 * word that makes it misbehave.
 */
export const TEST_DAEMON = `
while IFS= read -r line; do
  case $line in
    crash*) echo "crashing on $line" >&2; exit 3 ;;
    hang*) sleep 60 ;;
    deaf*) trap '' TERM; sleep 60 ;;
    late*) trap '' TERM; sleep 1.5; printf 'late %s\\n' "$line" ;;
    garbage*) head -c 10000 /dev/zero | tr '\\0' g ;;
    silent*) ;;
    partial*) printf 'half a line'; exit 0 ;;
    slow*) echo "got $line" >&2; sleep 1; printf 'slow %s\\n' "$line" ;;
    *) printf 'ok %s\\n' "$line" ;;
  esac
done`;
