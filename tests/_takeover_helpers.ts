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

  /** Starts `takeover server` on 127.0.0.1, any port, offering on `path`. */
  static offering(
    path: string,
    extra: readonly string[] = [],
  ): Promise<TakeoverProcess> {
    return TakeoverProcess.start([
      "-a",
      "127.0.0.1",
      "-p",
      "0",
      "-t",
      path,
      ...extra,
    ]);
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

/** Runs a command under other ids. */
const SETPRIV = "/usr/bin/setpriv";

/** Whether the tests run as root with setpriv, so they can act as `nobody`. */
export const CAN_RUN_AS_NOBODY: boolean = (() => {
  try {
    return Deno.uid() === 0 && Deno.statSync(SETPRIV).isFile &&
      Deno.statSync("/usr/bin/env").isFile;
  } catch {
    return false;
  }
})();

/** A temp dir under /tmp that every user may create files in (mode 1777, like /tmp), removed on dispose. */
export async function openSharedTempDir(): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({
    dir: "/tmp",
    prefix: "tcpkit_takeover_shared_",
  });
  await Deno.chmod(path, 0o1777);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** What `nobody` runs from (see {@linkcode openNobodyWorkspace}). */
export interface NobodyWorkspace {
  /** A world-readable copy of the project files needed; run from here. */
  readonly root: string;
  /** A DENO_DIR owned by nobody, with a copy of our npm cache. */
  readonly denoDir: string;
}

/**
 * A workspace under /tmp from which `nobody` can run `entries` (paths
 * relative to the project root) wherever the clone lives (nobody cannot
 * read a clone under a 0700 directory): a world-readable copy of every
 * project file they import, with deno.json and deno.lock, and a DENO_DIR
 * that nobody owns holding a copy of our npm cache (logtape). Removed on
 * dispose.
 */
export async function openNobodyWorkspace(
  entries: readonly string[],
): Promise<NobodyWorkspace & AsyncDisposable> {
  const base = await Deno.makeTempDir({
    dir: "/tmp",
    prefix: "tcpkit_nobody_",
  });
  const dispose = () => Deno.remove(base, { recursive: true });
  try {
    await Deno.chmod(base, 0o755);
    const root = `${base}/src`;
    const denoDir = `${base}/deno`;
    const files = new Set(["deno.json", "deno.lock"]);
    for (const entry of entries) {
      const info = await new Deno.Command(Deno.execPath(), {
        args: ["info", "--json", entry],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!info.success) {
        throw new Error(
          `deno info ${entry} failed: ${new TextDecoder().decode(info.stderr)}`,
        );
      }
      const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
        modules: { local?: string }[];
      };
      for (const { local } of graph.modules) {
        if (local?.startsWith(ROOT)) files.add(local.slice(ROOT.length));
      }
    }
    for (const file of files) {
      const target = `${root}/${file}`;
      const parts = file.split("/").slice(0, -1);
      // Each directory on the way: created, and opened to everyone.
      for (let i = 0; i <= parts.length; i++) {
        const dir = [root, ...parts.slice(0, i)].join("/");
        await Deno.mkdir(dir, { recursive: true });
        await Deno.chmod(dir, 0o755);
      }
      await Deno.copyFile(`${ROOT}${file}`, target);
      await Deno.chmod(target, 0o644);
    }
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const hostDenoDir = JSON.parse(new TextDecoder().decode(info.stdout))
      .denoDir;
    await Deno.mkdir(denoDir);
    for (
      const [cmd, args] of [
        ["cp", ["-r", `${hostDenoDir}/npm`, `${denoDir}/npm`]],
        ["chown", ["-R", "nobody:nogroup", denoDir]],
      ] as const
    ) {
      const out = await new Deno.Command(cmd, { args: [...args] }).output();
      if (!out.success) throw new Error(`${cmd} failed`);
    }
    return { root, denoDir, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * The command and arguments that run `deno ARGS` as nobody (setpriv) with
 * the workspace's DENO_DIR; run them from `workspace.root`. env sets the
 * variables as root, before setpriv: setpriv then execs deno itself, while
 * it still holds root's capabilities, so deno need not be reachable by
 * nobody (it may live under /root).
 */
export function nobodyCommand(
  workspace: NobodyWorkspace,
  args: readonly string[],
): { command: string; args: string[] } {
  return {
    command: "/usr/bin/env",
    args: [
      `DENO_DIR=${workspace.denoDir}`,
      `HOME=${workspace.denoDir}`,
      SETPRIV,
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "--",
      Deno.execPath(),
      ...args,
    ],
  };
}

/** The result of a command run as `nobody`. */
export interface NobodyResult {
  code: number;
  stderr: string;
}

/**
 * Runs `deno ARGS` as nobody from the workspace, bounded by `ms`; the
 * process is killed if it overstays.
 */
export async function runAsNobody(
  args: string[],
  workspace: NobodyWorkspace,
  ms = 30000,
): Promise<NobodyResult> {
  const { command, args: full } = nobodyCommand(workspace, args);
  const child = new Deno.Command(command, {
    args: full,
    cwd: workspace.root,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
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
