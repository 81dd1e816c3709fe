/**
 * The shipped Nagios commands (contrib/nagios/commands.cfg), run as Nagios
 * runs them (macros substituted, through /bin/sh) against one tcpservd:
 * tcpcli --format nagios and the real check_tcp (monitoring-plugins-basic)
 * must agree on the exit code, and both lines must be plugin output with
 * `time` perfdata in seconds.
 */
import assert from "node:assert/strict";
import {
  ask,
  fakeTcpservd,
  ROOT,
  ServerProcess,
  session,
  startTestServer,
  taskArgs,
} from "./_helpers.ts";

const PLUGINS = "/usr/lib/nagios/plugins";
const COMMANDS = `${ROOT}contrib/nagios/commands.cfg`;

function checkTcpMissing(): string | undefined {
  try {
    Deno.statSync(`${PLUGINS}/check_tcp`);
    return undefined;
  } catch {
    return `${PLUGINS}/check_tcp is not installed (.ci/run installs monitoring-plugins-basic)`;
  }
}
const whyNoCheckTcp = checkTcpMissing();
if (whyNoCheckTcp !== undefined) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.error(`nagios_test: skipping: ${whyNoCheckTcp}`);
}

/** command_name → command_line of the shipped commands.cfg. */
function shippedCommands(): Map<string, string> {
  const text = Deno.readTextFileSync(COMMANDS);
  const commands = new Map<string, string>();
  for (
    const match of text.matchAll(
      /^define command \{\n\s+command_name\s+(\S+)\n\s+command_line\s+(.+)\n\}/gm,
    )
  ) {
    commands.set(match[1]!, match[2]!);
  }
  return commands;
}

/** A directory with a `tcpcli` wrapper, as `deno task install` makes one. */
function tcpcliDir(): string {
  const dir = Deno.makeTempDirSync({ prefix: "tcpkit-nagios-" });
  const args = taskArgs("tcpcli").map((a) => `'${a}'`).join(" ");
  Deno.writeTextFileSync(
    `${dir}/tcpcli`,
    `#!/bin/sh\ncd '${ROOT}' && exec '${Deno.execPath()}' ${args} "$@"\n`,
    { mode: 0o755 },
  );
  return dir;
}

/** What a plugin run gives Nagios. */
interface PluginRun {
  code: number;
  output: string;
  ms: number;
}

/** Runs a command line as Nagios does: macros replaced, then /bin/sh. */
async function runCommand(
  line: string,
  macros: Record<string, string>,
): Promise<PluginRun> {
  let command = line;
  for (const [name, value] of Object.entries(macros)) {
    command = command.replaceAll(`$${name}$`, value);
  }
  assert.doesNotMatch(command, /\$[A-Z0-9]+\$/, "every macro is known");
  const started = performance.now();
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", command],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
  try {
    const out = await child.output();
    return {
      code: out.code,
      output: new TextDecoder().decode(out.stdout),
      ms: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

// Plugin output: "TEXT | PERFDATA"; perfdata 'label'=value[UOM];warn;crit;min;max.
const PERFDATA =
  /^'?([^'=]+)'?=(\d+(?:\.\d+)?)(s|ms|us|%|B|KB|MB|c)?(?:;[\d.]*){0,4}$/;

/** The status line's parts: service, state, text, and the time perfdata. */
function parsePluginOutput(output: string): {
  service: string;
  state: string;
  text: string;
  seconds: number;
} {
  // Text up to the first "|" (which may follow a multi-line reply).
  const bar = output.indexOf("|");
  assert.ok(bar > 0, output);
  const text = output.slice(0, bar).trim();
  const perfdata = output.slice(bar + 1).trim().split(/\s+/);
  const match = text.match(/^(\S+) (OK|WARNING|CRITICAL|UNKNOWN) - (.*)$/s);
  assert.ok(match, output);
  const time = perfdata.map((p) => p.match(PERFDATA)).find((m) =>
    m?.[1] === "time"
  );
  assert.ok(time, `time perfdata in ${JSON.stringify(output)}`);
  assert.equal(time[3], "s");
  return {
    service: match[1]!,
    state: match[2]!,
    text: match[3]!,
    seconds: Number(time[2]),
  };
}

function report(what: string, run: PluginRun): void {
  // deno-lint-ignore no-console -- the measured figures go in the README
  console.log(
    `nagios_test: ${what}: exit ${run.code} in ${
      (run.ms / 1000).toFixed(3)
    } s: ${JSON.stringify(run.output)}`,
  );
}

Deno.test({
  name:
    "Nagios: tcpcli --format nagios and check_tcp (contrib/nagios/commands.cfg) agree on GOOD, BAD and refused; check_tcp needs the quit and -M crit",
  ignore: whyNoCheckTcp !== undefined,
  async fn() {
    const commands = shippedCommands();
    const tcpcli = commands.get("check_tcpservd");
    const checkTcp = commands.get("check_tcpservd_tcp");
    assert.ok(tcpcli && checkTcp, [...commands.keys()].join(" "));
    const dir = tcpcliDir();
    await using server = await ServerProcess.start();
    // Not a tcpservd: a server that answers getstatus with MAYBE.
    await using foreign = startTestServer(fakeTcpservd("MAYBE"));
    try {
      const macros = (port: number) => ({
        USER1: PLUGINS,
        USER2: dir,
        HOSTADDRESS: "127.0.0.1",
        ARG1: String(port),
      });
      const both = async (port: number, what: string) => {
        const ours = await runCommand(tcpcli, macros(port));
        const theirs = await runCommand(checkTcp, macros(port));
        report(`${what}, tcpcli`, ours);
        report(`${what}, check_tcp`, theirs);
        return { ours, theirs };
      };

      // GOOD: OK, exit 0, both.
      const good = await both(server.port, "GOOD");
      assert.equal(good.ours.code, 0, good.ours.output);
      assert.equal(good.theirs.code, 0, good.theirs.output);
      const goodOurs = parsePluginOutput(good.ours.output);
      const goodTheirs = parsePluginOutput(good.theirs.output);
      assert.deepEqual([goodOurs.service, goodOurs.state], ["TCPSERVD", "OK"]);
      assert.deepEqual([goodTheirs.service, goodTheirs.state], ["TCP", "OK"]);
      assert.equal(goodOurs.text, "GOOD");
      // tcpcli's output is one line; check_tcp quotes the reply, newlines and all.
      assert.equal(good.ours.output.split("\n").length, 2);
      assert.match(goodTheirs.text, /\[> GOOD\n/);

      // BAD: CRITICAL, exit 2, both; and at once, thanks to the quit.
      const conn = await session(server.port);
      try {
        assert.equal(await ask(conn, "setbad"), "Status is BAD\n");
      } finally {
        conn.close();
      }
      const bad = await both(server.port, "BAD");
      assert.equal(bad.ours.code, 2, bad.ours.output);
      assert.equal(bad.theirs.code, 2, bad.theirs.output);
      const badOurs = parsePluginOutput(bad.ours.output);
      const badTheirs = parsePluginOutput(bad.theirs.output);
      assert.equal(badOurs.state, "CRITICAL");
      assert.equal(badOurs.text, "BAD");
      assert.equal(badTheirs.state, "CRITICAL");
      assert.match(badTheirs.text, /Unexpected response.*> BAD/s);
      assert.ok(badTheirs.seconds < 1, `check_tcp took ${badTheirs.seconds}s`);

      // Without the quit in the send and without -M crit (the obvious
      // command), check_tcp waits for GOOD, then says WARNING, exit 1.
      const naive = await runCommand(
        `${PLUGINS}/check_tcp -H $HOSTADDRESS$ -p $ARG1$ -E -s 'getstatus\\n' -e GOOD`,
        macros(server.port),
      );
      report("BAD, naive check_tcp", naive);
      assert.equal(naive.code, 1, naive.output);
      assert.equal(parsePluginOutput(naive.output).state, "WARNING");
      assert.ok(naive.ms >= 1000, `${naive.ms} ms`);

      // Refused: CRITICAL, exit 2, both.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const closedPort = listener.addr.port;
      listener.close();
      const refused = await both(closedPort, "refused");
      assert.equal(refused.ours.code, 2, refused.ours.output);
      assert.equal(refused.theirs.code, 2, refused.theirs.output);
      assert.match(refused.ours.output, /^TCPSERVD CRITICAL - .*refused/);
      parsePluginOutput(refused.ours.output);
      // check_tcp's refusal is a bare message: no state word, no perfdata.
      assert.match(refused.theirs.output, /^connect to address .*refused\n$/);

      // A reply that is neither GOOD nor BAD: tcpcli UNKNOWN 3, check_tcp
      // CRITICAL 2 (it cannot tell a foreign reply from a BAD one).
      const maybe = await both(foreign.port, "a MAYBE reply");
      assert.equal(maybe.ours.code, 3, maybe.ours.output);
      assert.equal(parsePluginOutput(maybe.ours.output).state, "UNKNOWN");
      assert.equal(maybe.theirs.code, 2, maybe.theirs.output);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
