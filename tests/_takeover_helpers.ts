/**
 * Helpers for the takeover tests: run `takeover` as its `deno task` does,
 * wait for its lines, read the client's progress, and run a command as
 * `nobody`.
 */
import denoConfig from "../deno.json" with { type: "json" };
import { CommandProcess, ROOT } from "./_helpers.ts";

/**
 * `deno run` flags and entry of the `takeover` task (the flags the README
 * gives, until the task exists in deno.json).
 */
export const TAKEOVER_RUN: readonly string[] = (() => {
  const task = (denoConfig.tasks as Record<string, string>)["takeover"];
  if (task !== undefined) return task.split(/\s+/).slice(1);
  return [
    "run",
    "--allow-net",
    "--allow-ffi",
    "--allow-env=TCPKIT_LIBC_PATH",
    "takeover/main.ts",
  ];
})();

/** Flags of a `deno run` of a test fixture that uses the takeover library. */
export const FIXTURE_RUN: readonly string[] = [
  "run",
  "--allow-ffi",
  "--allow-env=TCPKIT_LIBC_PATH",
];

/** A `takeover server` process with the port it listens on. */
export class TakeoverProcess extends CommandProcess {
  port = 0;

  /**
   * Starts `takeover server ARGS` and waits for `listening on`.
   */
  static async start(args: string[], ms = 30000): Promise<TakeoverProcess> {
    const server = new TakeoverProcess([...TAKEOVER_RUN, "server", ...args]);
    try {
      const match = await server.waitForLine(/listening on [^\s]+:(\d+)/, ms);
      server.port = Number(match[1]);
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
    return server;
  }
}

/** Starts `takeover client ARGS` and waits until its connections are open. */
export async function startClient(
  args: string[],
  ms = 30000,
): Promise<CommandProcess> {
  const client = new CommandProcess([...TAKEOVER_RUN, "client", ...args]);
  try {
    await client.waitForLine(/^connected \d+ connections? to /, ms);
  } catch (error) {
    await client[Symbol.asyncDispose]();
    throw error;
  }
  return client;
}

/** The `received=` count of the client's latest progress line (0 if none). */
export function receivedSoFar(client: CommandProcess): number {
  for (let i = client.lines.length - 1; i >= 0; i--) {
    const match = client.lines[i]!.match(/^progress: .*received=(\d+)/);
    if (match) return Number(match[1]);
  }
  return 0;
}

/**
 * Waits until a progress line of the client shows more than `above` echoes
 * received: proof that the server side serves.
 */
export async function waitForReceived(
  client: CommandProcess,
  above: number,
  ms = 30000,
): Promise<number> {
  const deadline = performance.now() + ms;
  for (let from = 0;;) {
    for (; from < client.lines.length; from++) {
      const match = client.lines[from]!.match(/^progress: .*received=(\d+)/);
      if (match && Number(match[1]) > above) return Number(match[1]);
    }
    // Wait for the next line, whatever it is.
    const left = Math.max(1, deadline - performance.now());
    await client.waitForLine(/^/, left, from);
  }
}

/** What the client printed as its summary on stdout. */
export interface ClientSummary {
  sent: number;
  received: number;
  conns: number;
  newConns: number;
  newConnsFailed: number;
  maxRttMs: number;
}

/** Parses the client's text summary. */
export function parseSummary(stdout: string): ClientSummary {
  const match = stdout.match(
    /sent (\d+) received (\d+) on (\d+) connections?; round trip max ([\d.]+) ms.*new connections (\d+) \((\d+) failed\)/,
  );
  if (!match) throw new Error(`No summary in ${JSON.stringify(stdout)}`);
  return {
    sent: Number(match[1]),
    received: Number(match[2]),
    conns: Number(match[3]),
    maxRttMs: Number(match[4]),
    newConns: Number(match[5]),
    newConnsFailed: Number(match[6]),
  };
}

/** A temp dir anyone may enter (mode 0755), removed on dispose. */
export async function openTempDir(): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix: "tcpkit_takeover_" });
  await Deno.chmod(path, 0o755);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** Whether the tests run as root with setpriv, so they can act as `nobody`. */
export const CAN_RUN_AS_NOBODY: boolean = (() => {
  try {
    return Deno.uid() === 0 && Deno.statSync("/usr/bin/setpriv").isFile;
  } catch {
    return false;
  }
})();

/**
 * A DENO_DIR `nobody` can use: a copy of our npm cache (logtape), owned by
 * nobody, in a temp dir. Removed on dispose.
 */
export async function nobodyDenoDir(): Promise<
  { path: string } & AsyncDisposable
> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const path = await Deno.makeTempDir({ prefix: "tcpkit_nobody_deno_" });
  for (
    const [cmd, args] of [
      ["cp", ["-r", `${denoDir}/npm`, `${path}/npm`]],
      ["chown", ["-R", "nobody:nogroup", path]],
    ] as const
  ) {
    const out = await new Deno.Command(cmd, { args: [...args] }).output();
    if (!out.success) throw new Error(`${cmd} failed`);
  }
  await Deno.chmod(path, 0o755);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** The result of a command run as `nobody`. */
export interface NobodyResult {
  code: number;
  stderr: string;
}

/**
 * Runs `deno ARGS` as nobody (setpriv), from the project root, bounded by
 * `ms`; the process is killed if it overstays.
 */
export async function runAsNobody(
  args: string[],
  denoDir: string,
  ms = 30000,
): Promise<NobodyResult> {
  const child = new Deno.Command("/usr/bin/setpriv", {
    args: [
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "--",
      Deno.execPath(),
      ...args,
    ],
    cwd: ROOT,
    env: {
      DENO_DIR: denoDir,
      HOME: denoDir,
      NO_COLOR: "1",
      RUST_BACKTRACE: "0",
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
  }, ms);
  try {
    const out = await child.output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}
