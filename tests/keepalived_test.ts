/**
 * The real keepalived (VRRP only) with tcpcli as its tracked script, from
 * the shipped contrib/keepalived/keepalived.conf (only its definitions
 * rewritten): two instances in two network namespaces made here, joined by
 * a veth pair, unicast peers at 198.51.100.1 and .2, the virtual address
 * 198.51.100.100 (a documentation range, only inside the namespaces);
 * tcpservd runs on the master's namespace. `setbad` must move the address
 * to the backup within interval x fall (+ one advert and CI slack);
 * `setgood` must bring it back. The measured times are printed.
 */
import assert from "node:assert/strict";
import {
  CommandProcess,
  ROOT,
  ServerProcess,
  taskArgs,
  waitFor,
} from "./_helpers.ts";

const KEEPALIVED = "/usr/sbin/keepalived";
const CONFIG = `${ROOT}contrib/keepalived/keepalived.conf`;
const MASTER_IP = "198.51.100.1";
const BACKUP_IP = "198.51.100.2";
const VIP = "198.51.100.100";
const SLACK_MS = 3000;

function run(args: string[]): { ok: boolean; text: string } {
  try {
    const out = new Deno.Command(args[0]!, {
      args: args.slice(1),
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const decoder = new TextDecoder();
    return {
      ok: out.success,
      text: (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim(),
    };
  } catch (error) {
    return { ok: false, text: String(error) };
  }
}

/** Why the test cannot run here, or undefined when it can. */
function impossible(): string | undefined {
  try {
    Deno.statSync(KEEPALIVED);
  } catch {
    return `${KEEPALIVED} is not installed (.ci/run installs keepalived)`;
  }
  const name = `tcpkit-kaprobe-${Deno.pid}`;
  const added = run(["ip", "netns", "add", name]);
  if (!added.ok) return `ip netns add failed: ${added.text}`;
  run(["ip", "netns", "del", name]);
  return undefined;
}
const whyNot = impossible();
if (whyNot !== undefined) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.error(`keepalived_test: skipping: ${whyNot}`);
}

/** Two namespaces joined by a veth pair, loopback up in both. */
class Namespaces {
  readonly master = `tcpkit-ka1-${Deno.pid}`;
  readonly backup = `tcpkit-ka2-${Deno.pid}`;
  readonly masterIf = `tka${Deno.pid % 100000}a`;
  readonly backupIf = `tka${Deno.pid % 100000}b`;

  constructor() {
    const steps = [
      ["ip", "netns", "add", this.master],
      ["ip", "netns", "add", this.backup],
      [
        "ip",
        "link",
        "add",
        this.masterIf,
        "type",
        "veth",
        "peer",
        "name",
        this.backupIf,
      ],
      ["ip", "link", "set", this.masterIf, "netns", this.master],
      ["ip", "link", "set", this.backupIf, "netns", this.backup],
      [
        "ip",
        "-n",
        this.master,
        "addr",
        "add",
        `${MASTER_IP}/24`,
        "dev",
        this.masterIf,
      ],
      [
        "ip",
        "-n",
        this.backup,
        "addr",
        "add",
        `${BACKUP_IP}/24`,
        "dev",
        this.backupIf,
      ],
      ["ip", "-n", this.master, "link", "set", this.masterIf, "up"],
      ["ip", "-n", this.backup, "link", "set", this.backupIf, "up"],
      ["ip", "-n", this.master, "link", "set", "lo", "up"],
      ["ip", "-n", this.backup, "link", "set", "lo", "up"],
    ];
    for (const step of steps) {
      const result = run(step);
      if (!result.ok) {
        this.remove();
        throw new Error(`${step.join(" ")}: ${result.text}`);
      }
    }
  }

  /** Whether the namespace has the virtual address. */
  hasVip(ns: string, dev: string): boolean {
    const out = run(["ip", "-n", ns, "-4", "addr", "show", "dev", dev]);
    return out.ok && out.text.includes(`inet ${VIP}/`);
  }

  /** Where the virtual address is: "master", "backup", "both" or "none". */
  vip(): string {
    const m = this.hasVip(this.master, this.masterIf);
    const b = this.hasVip(this.backup, this.backupIf);
    return m && b ? "both" : m ? "master" : b ? "backup" : "none";
  }

  remove(): void {
    // Deleting a namespace removes its end of the veth pair, and so both.
    run(["ip", "netns", "del", this.master]);
    run(["ip", "netns", "del", this.backup]);
  }
}

/** The shipped config with its `$NAME=value` definitions replaced. */
function configFor(values: Record<string, string>): string {
  let text = Deno.readTextFileSync(CONFIG);
  for (const [name, value] of Object.entries(values)) {
    const definition = new RegExp(`^\\$${name}=.*$`, "m");
    assert.match(text, definition, `the shipped config defines $${name}`);
    text = text.replace(definition, `$${name}=${value}`);
  }
  return text;
}

/** `interval` and `fall` of the shipped config's script, and its `advert_int`. */
function timing(): {
  intervalS: number;
  fall: number;
  rise: number;
  advertS: number;
} {
  const text = Deno.readTextFileSync(CONFIG);
  const number = (re: RegExp) => {
    const match = text.match(re);
    assert.ok(match, `${re} in ${CONFIG}`);
    return Number(match[1]);
  };
  return {
    intervalS: number(/^\s+interval (\d+)$/m),
    fall: number(/^\s+fall (\d+)$/m),
    rise: number(/^\s+rise (\d+)$/m),
    advertS: number(/^\s+advert_int (\d+)$/m),
  };
}

/** A tcpcli wrapper keepalived can run (its environment is its own). */
function tcpcliWrapper(dir: string): string {
  const info = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  }).outputSync();
  const denoDir =
    (JSON.parse(new TextDecoder().decode(info.stdout)) as { denoDir: string })
      .denoDir;
  const args = taskArgs("tcpcli").map((a) => `'${a}'`).join(" ");
  const path = `${dir}/tcpcli`;
  Deno.writeTextFileSync(
    path,
    [
      "#!/bin/sh",
      `export DENO_DIR='${denoDir}' NO_COLOR=1`,
      `cd '${ROOT}' && exec '${Deno.execPath()}' ${args} "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return path;
}

/** keepalived in a namespace, in the foreground, logging to the console. */
class Keepalived implements AsyncDisposable {
  readonly process: CommandProcess;
  readonly vrrpPidFile: string;

  constructor(ns: string, dir: string, name: string, config: string) {
    const conf = `${dir}/${name}.conf`;
    Deno.writeTextFileSync(conf, config);
    this.vrrpPidFile = `${dir}/${name}-vrrp.pid`;
    this.process = new CommandProcess([
      "netns",
      "exec",
      ns,
      KEEPALIVED,
      "--vrrp",
      "-n",
      "-l",
      "-D",
      "-f",
      conf,
      "-p",
      `${dir}/${name}.pid`,
      "-r",
      this.vrrpPidFile,
    ], { command: "/usr/sbin/ip" });
  }

  /** The console log so far (keepalived logs to stdout with -l). */
  get log(): string {
    return this.process.stdout + this.process.stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // SIGTERM: the parent stops its VRRP child and releases the address.
    this.process.kill("SIGTERM");
    try {
      await this.process.wait(10000);
    } catch {
      this.process.kill("SIGKILL");
      await this.process[Symbol.asyncDispose]();
    }
    // A VRRP child left behind by a killed parent: ours, by its pid file.
    try {
      const pid = Number(Deno.readTextFileSync(this.vrrpPidFile).trim());
      if (pid > 1) Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone with its parent, as it should be.
    }
  }
}

/** Sends one command to the master's tcpservd; tcpcli's output. */
async function tell(
  port: number,
  ns: Namespaces,
  line: string,
): Promise<string> {
  // tcpservd listens on the master namespace's loopback: ask through the
  // namespace with tcpcli -c, as an operator on that node would.
  const out = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.master,
      Deno.execPath(),
      ...taskArgs("tcpcli"),
      "-c",
      line,
      "127.0.0.1",
      String(port),
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const result = await out;
  return new TextDecoder().decode(result.stdout);
}

function report(what: string, ms: number): void {
  // deno-lint-ignore no-console -- the measured figures go in the README
  console.log(`keepalived_test: ${what}: ${(ms / 1000).toFixed(3)} s`);
}

Deno.test({
  name:
    "keepalived with tcpcli as vrrp_script (shipped config): setbad moves the virtual address to the backup within interval x fall, setgood brings it back",
  ignore: whyNot !== undefined,
  async fn() {
    const { intervalS, fall, rise, advertS } = timing();
    const dir = Deno.makeTempDirSync({ prefix: "tcpkit-keepalived-" });
    const ns = new Namespaces();
    try {
      const tcpcli = tcpcliWrapper(dir);
      await using server = await ServerProcess.start([
        "netns",
        "exec",
        ns.master,
        Deno.execPath(),
        ...taskArgs("tcpservd"),
        "-a",
        "127.0.0.1",
        "-p",
        "0",
      ], { command: "/usr/sbin/ip" });
      const common = {
        VIP: `${VIP}/24`,
        TCPCLI: tcpcli,
        // The test's tcpcli runs deno from the checkout, with root's cache:
        // root here; the shipped default is nobody (installed wrappers).
        SCRIPT_USER: "root",
        TCPSERVD: `127.0.0.1 ${server.port}`,
      };
      const masterConf = configFor({
        ...common,
        IFACE: ns.masterIf,
        SELF: MASTER_IP,
        PEER: BACKUP_IP,
        PRIORITY: "150",
      });
      // The backup has no tcpservd of its own here: it tracks nothing.
      const backupConf = configFor({
        ...common,
        IFACE: ns.backupIf,
        SELF: BACKUP_IP,
        PEER: MASTER_IP,
        PRIORITY: "100",
      }).replace(/\n\s+track_script \{\n\s+chk_tcpservd\n\s+\}/, "");
      assert.doesNotMatch(backupConf, /track_script/);

      // The shipped file, definitions filled in, passes keepalived's own check.
      Deno.writeTextFileSync(`${dir}/check.conf`, masterConf);
      const check = run([
        "ip",
        "netns",
        "exec",
        ns.master,
        KEEPALIVED,
        "-t",
        "-f",
        `${dir}/check.conf`,
      ]);
      assert.ok(check.ok, check.text);

      await using master = new Keepalived(ns.master, dir, "master", masterConf);
      await using backup = new Keepalived(ns.backup, dir, "backup", backupConf);
      await waitFor(() => ns.vip() === "master", {
        what: `the VIP on the master\n${master.log}\n${backup.log}`,
        ms: 30000,
        intervalMs: 50,
      });

      const badAt = performance.now();
      assert.match(await tell(server.port, ns, "setbad"), /Status is BAD/);
      const moved = await waitFor(
        () => ns.vip() === "backup" ? performance.now() - badAt : 0,
        {
          what: `the VIP on the backup\n${master.log}`,
          ms: 30000,
          intervalMs: 20,
        },
      );
      report("setbad to the VIP on the backup", moved);
      const bound = (intervalS * fall + advertS) * 1000 + SLACK_MS;
      assert.ok(moved <= bound, `${moved} ms > ${bound} ms`);
      assert.match(master.log, /chk_tcpservd.*(failed|exited with status 1)/);

      const goodAt = performance.now();
      assert.match(await tell(server.port, ns, "setgood"), /Status is GOOD/);
      const back = await waitFor(
        () => ns.vip() === "master" ? performance.now() - goodAt : 0,
        {
          what: `the VIP back on the master\n${master.log}`,
          ms: 30000,
          intervalMs: 20,
        },
      );
      report("setgood to the VIP back on the master", back);
      // rise good runs; out of FAULT the master is a backup until it has
      // heard no higher master for 3 adverts (+ skew), then it preempts.
      const backBound = (intervalS * rise + 4 * advertS) * 1000 + SLACK_MS;
      assert.ok(back <= backBound, `${back} ms > ${backBound} ms`);
    } finally {
      ns.remove();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
