/**
 * The real HAProxy (Debian's 2.6) in front of three tcpservd nodes, run from
 * the shipped contrib/haproxy/haproxy.cfg (its addresses come from the
 * environment). Traffic goes through the frontends, each reply names its
 * node; HAProxy's own view is read from its stats socket. Timing bounds are
 * derived from the config's `inter`/`fall`/`rise`, with CI slack; the
 * measured times are printed.
 */
import assert from "node:assert/strict";
import {
  ask,
  CommandProcess,
  ROOT,
  ServerProcess,
  session,
  waitFor,
  within,
} from "./_helpers.ts";

const HAPROXY = "/usr/sbin/haproxy";
const CONFIG = `${ROOT}contrib/haproxy/haproxy.cfg`;
const NODES = ["node1", "node2", "node3"] as const;
// Loaded CI machines: every bound gets this much on top of the config's.
const SLACK_MS = 1000;

function haproxyMissing(): string | undefined {
  try {
    Deno.statSync(HAPROXY);
    return undefined;
  } catch {
    return `${HAPROXY} is not installed (.ci/run installs the haproxy package)`;
  }
}
const whyNoHaproxy = haproxyMissing();
if (whyNoHaproxy !== undefined) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.error(`haproxy_test: skipping: ${whyNoHaproxy}`);
}

/** `inter`, `fall` and `rise` of the shipped config's checks. */
function checkTiming(config: string): {
  interMs: number;
  fall: number;
  rise: number;
} {
  const match = config.match(
    /default-server check inter (\d+)ms fall (\d+) rise (\d+)/,
  );
  assert.ok(match, "contrib/haproxy/haproxy.cfg sets inter, fall and rise");
  return {
    interMs: Number(match[1]),
    fall: Number(match[2]),
    rise: Number(match[3]),
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** A tcpservd node with its agent port. */
interface Node {
  name: string;
  server: ServerProcess;
  agentPort: number;
}

async function startNodes(
  extra: (name: string) => string[] = () => [],
): Promise<Node[]> {
  const started = await Promise.allSettled(
    NODES.map((name) =>
      ServerProcess.start(["--name", name, "--agent-port", "0", ...extra(name)])
    ),
  );
  const servers = started.flatMap((r) =>
    r.status === "fulfilled" ? [r.value] : []
  );
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    for (const server of servers) await server[Symbol.asyncDispose]();
    throw (failed as PromiseRejectedResult).reason;
  }
  const nodes: Node[] = [];
  for (const [i, server] of servers.entries()) {
    const match = await server.waitForLine(/agent-check on \S+:(\d+)/);
    nodes.push({ name: NODES[i]!, server, agentPort: Number(match[1]) });
  }
  return nodes;
}

/** A running haproxy on the given config text, with its ports and socket. */
class Haproxy implements AsyncDisposable {
  readonly dir = Deno.makeTempDirSync({ prefix: "tcpkit-haproxy-" });
  readonly socket = `${this.dir}/admin.sock`;
  readonly checkedPort = freePort();
  readonly agentPort = freePort();
  readonly process: CommandProcess;

  constructor(config: string, nodes: Node[]) {
    const path = `${this.dir}/haproxy.cfg`;
    Deno.writeTextFileSync(path, config);
    const env = [
      `HAPROXY_ADMIN_SOCKET=${this.socket}`,
      "HAPROXY_LOG=stdout",
      `TCPKIT_CHECKED_BIND=127.0.0.1:${this.checkedPort}`,
      `TCPKIT_AGENT_BIND=127.0.0.1:${this.agentPort}`,
      ...nodes.flatMap((node, i) => [
        `TCPKIT_NODE${i + 1}=127.0.0.1:${node.server.port}`,
        `TCPKIT_NODE${i + 1}_AGENT=${node.agentPort}`,
      ]),
    ];
    // `env` execs haproxy: the pid is haproxy's own.
    this.process = new CommandProcess([...env, HAPROXY, "-db", "-f", path], {
      command: "/usr/bin/env",
    });
  }

  /** Sends one command to the stats socket; the whole answer. */
  async command(line: string): Promise<string> {
    const conn = await Deno.connect({ transport: "unix", path: this.socket });
    try {
      await conn.write(new TextEncoder().encode(`${line}\n`));
      let text = "";
      const buf = new Uint8Array(65536);
      // HAProxy closes after one answer; bounded by time and count.
      await within(
        5000,
        `haproxy's answer to ${line}`,
        (async () => {
          for (let i = 0; i < 1000; i++) {
            const n = await conn.read(buf);
            if (n === null) return;
            text += new TextDecoder().decode(buf.subarray(0, n));
          }
        })(),
      );
      return text;
    } finally {
      conn.close();
    }
  }

  /** `show servers state` of a backend: server name → its columns. */
  async servers(backend: string): Promise<Map<string, Record<string, string>>> {
    const text = await this.command(`show servers state ${backend}`);
    const lines = text.split("\n");
    const header = lines.find((l) => l.startsWith("# be_id"));
    assert.ok(header, text);
    const names = header.slice(2).split(" ");
    const result = new Map<string, Record<string, string>>();
    for (const line of lines) {
      const values = line.split(" ");
      // The first line is the format version, alone.
      if (line.startsWith("#") || values.length !== names.length) continue;
      const row = Object.fromEntries(names.map((n, i) => [n, values[i] ?? ""]));
      result.set(row.srv_name!, row);
    }
    return result;
  }

  /** The `show stat` CSV row of one server. */
  async stat(backend: string, server: string): Promise<Record<string, string>> {
    const lines = (await this.command("show stat")).split("\n");
    const names = lines[0]!.replace(/^# /, "").split(",");
    for (const line of lines.slice(1)) {
      const values = line.split(",");
      if (values[0] === backend && values[1] === server) {
        return Object.fromEntries(names.map((n, i) => [n, values[i] ?? ""]));
      }
    }
    throw new Error(`No stat row for ${backend}/${server}`);
  }

  /** Waits until every server of both backends is UP (the checks passed). */
  async allUp(): Promise<void> {
    await waitFor(async () => {
      if (this.process.exited) {
        throw new Error(
          `haproxy exited (${this.process.exited.code}):\n${this.process.stderr}\n${this.process.stdout}`,
        );
      }
      try {
        for (const backend of ["tcpservd_checked", "tcpservd_agent"]) {
          const states = await this.servers(backend);
          if (states.size !== NODES.length) return false;
          for (const row of states.values()) {
            if (row.srv_op_state !== "2") return false;
          }
        }
        return true;
      } catch {
        return false; // Not listening yet.
      }
    }, { what: "haproxy with every server UP", ms: 15000, intervalMs: 50 });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.process[Symbol.asyncDispose]();
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/** One new connection through a frontend: which node answers `hostname`. */
async function whoAnswers(port: number): Promise<string> {
  const conn = await session(port);
  try {
    const reply = await ask(conn, "hostname", 5000);
    const match = reply.match(/^hostname:\[(.+)\]\n$/);
    assert.ok(match, reply);
    await conn.write(new TextEncoder().encode("quit\n"));
    return match[1]!;
  } finally {
    conn.close();
  }
}

/** Sends commands straight to a node (not through HAProxy). */
async function tell(node: Node, ...lines: string[]): Promise<string[]> {
  const conn = await session(node.server.port);
  try {
    const replies = [];
    for (const line of lines) replies.push(await ask(conn, line));
    return replies;
  } finally {
    conn.close();
  }
}

/**
 * After `start`, sends new connections through `port` until HAProxy shows
 * `server` in `backend` with op state `opState`; then keeps sending `after`
 * more. Returns when the state showed and when `name` last answered.
 */
async function watchUntil(
  haproxy: Haproxy,
  options: {
    backend: string;
    port: number;
    name: string;
    state: (row: Record<string, string>) => boolean;
    start: number;
    what: string;
  },
): Promise<{ stateMs: number; lastHitMs: number | undefined; hits: string[] }> {
  let lastHitMs: number | undefined;
  const hits: string[] = [];
  const stateMs = await waitFor(async () => {
    const who = await whoAnswers(options.port);
    hits.push(who);
    if (who === options.name) lastHitMs = performance.now() - options.start;
    const row = (await haproxy.servers(options.backend)).get(options.name);
    return row && options.state(row) ? performance.now() - options.start : 0;
  }, { what: options.what, ms: 20000, intervalMs: 10 });
  return { stateMs, lastHitMs, hits };
}

/** Sends `count` new connections through `port`; the names that answered. */
async function traffic(port: number, count: number): Promise<string[]> {
  const names = [];
  for (let i = 0; i < count; i++) names.push(await whoAnswers(port));
  return names;
}

function report(what: string, ms: number): void {
  // deno-lint-ignore no-console -- the measured figures go in the README
  console.log(`haproxy_test: ${what}: ${(ms / 1000).toFixed(3)} s`);
}

Deno.test("contrib/haproxy/haproxy.cfg is valid for haproxy -c", {
  ignore: whyNoHaproxy !== undefined,
}, async () => {
  const out = await new Deno.Command(HAPROXY, {
    args: ["-c", "-f", CONFIG],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
  assert.match(text, /Configuration file is valid/);
  assert.doesNotMatch(text, /WARNING/);
});

Deno.test({
  name:
    "HAProxy tcp-check (shipped config): a BAD node gets no new connections within fall x inter + inter, and comes back within rise x inter; no log noise on the nodes",
  ignore: whyNoHaproxy !== undefined,
  async fn() {
    const shipped = Deno.readTextFileSync(CONFIG);
    const { interMs, fall, rise } = checkTiming(shipped);
    const nodes = await startNodes();
    try {
      const node2 = nodes[1]!;
      await using haproxy = new Haproxy(shipped, nodes);
      await haproxy.allUp();
      // Round robin over the three, each reply naming its node.
      const before = await traffic(haproxy.checkedPort, 6);
      assert.deepEqual(new Set(before), new Set(NODES), before.join(" "));

      const badAt = performance.now();
      assert.deepEqual(await tell(node2, "setbad"), ["Status is BAD\n"]);
      const down = await watchUntil(haproxy, {
        backend: "tcpservd_checked",
        port: haproxy.checkedPort,
        name: node2.name,
        state: (row) => row.srv_op_state === "0",
        start: badAt,
        what: "node2 DOWN in tcpservd_checked",
      });
      const downBound = fall * interMs + interMs + SLACK_MS;
      report("tcp-check, setbad to DOWN", down.stateMs);
      assert.ok(down.stateMs <= downBound, `${down.stateMs} > ${downBound} ms`);
      if (down.lastHitMs !== undefined) {
        report("tcp-check, setbad to the last new connection", down.lastHitMs);
        assert.ok(down.lastHitMs <= downBound, `${down.lastHitMs} ms`);
      }
      const row = (await haproxy.servers("tcpservd_checked")).get("node2")!;
      // 0.0 s check durations: the BAD reply failed the check at once.
      const stat = await haproxy.stat("tcpservd_checked", "node2");
      assert.equal(stat.check_status, "L7RSP", JSON.stringify(stat));
      assert.ok(Number(stat.check_duration) < 500, stat.check_duration);
      assert.equal(row.srv_op_state, "0");
      const whileBad = await traffic(haproxy.checkedPort, 9);
      assert.ok(!whileBad.includes("node2"), whileBad.join(" "));

      const goodAt = performance.now();
      assert.deepEqual(await tell(node2, "setgood"), ["Status is GOOD\n"]);
      const up = await watchUntil(haproxy, {
        backend: "tcpservd_checked",
        port: haproxy.checkedPort,
        name: node2.name,
        state: (r) => r.srv_op_state === "2",
        start: goodAt,
        what: "node2 UP again in tcpservd_checked",
      });
      const upBound = rise * interMs + interMs + SLACK_MS;
      report("tcp-check, setgood to UP", up.stateMs);
      assert.ok(up.stateMs <= upBound, `${up.stateMs} > ${upBound} ms`);
      const afterGood = await traffic(haproxy.checkedPort, 6);
      assert.ok(afterGood.includes("node2"), afterGood.join(" "));

      // No log noise on the nodes: hundreds of checks (HAProxy resets
      // them), yet nothing but the start lines and the two state changes.
      for (const node of nodes) {
        const noisy = node.server.lines.filter((l) =>
          /\[(WRN|ERR|FTL)\]/.test(l)
        );
        assert.deepEqual(noisy, [], node.name);
        assert.ok(
          node.server.lines.length < 12,
          `${node.name}:\n${node.server.stderr}`,
        );
      }
    } finally {
      for (const node of nodes) await node.server[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name:
    "HAProxy tcp-check without the quit (the naive config) waits for the check timeout before it marks a BAD node DOWN",
  ignore: whyNoHaproxy !== undefined,
  async fn() {
    const shipped = Deno.readTextFileSync(CONFIG);
    const { fall } = checkTiming(shipped);
    const naive = shipped.replace(
      'tcp-check send "getstatus\\nquit\\n"',
      'tcp-check send "getstatus\\n"',
    );
    assert.notEqual(naive, shipped, "the shipped config sends getstatus+quit");
    const timeoutMs = Number(shipped.match(/timeout check (\d+)s/)![1]) * 1000;
    const nodes = await startNodes();
    try {
      await using haproxy = new Haproxy(naive, nodes);
      await haproxy.allUp();
      const badAt = performance.now();
      await tell(nodes[0]!, "setbad");
      const down = await watchUntil(haproxy, {
        backend: "tcpservd_checked",
        port: haproxy.checkedPort,
        name: "node1",
        state: (row) => row.srv_op_state === "0",
        start: badAt,
        what: "node1 DOWN with the naive config",
      });
      report("naive tcp-check, setbad to DOWN", down.stateMs);
      // Every failed check waited for the timeout: at least fall of them.
      assert.ok(
        down.stateMs >= fall * timeoutMs - 50,
        `${down.stateMs} ms: the naive config no longer waits?`,
      );
      const stat = await haproxy.stat("tcpservd_checked", "node1");
      assert.equal(stat.check_status, "L7TOUT", JSON.stringify(stat));
    } finally {
      for (const node of nodes) await node.server[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name:
    "HAProxy agent-check: tcpservd's agent takes a BAD node out and back (down, or drain with --agent-bad drain), drains a node (sessions kept, no new ones), and sets weight and maxconn",
  ignore: whyNoHaproxy !== undefined,
  async fn() {
    const shipped = Deno.readTextFileSync(CONFIG);
    const { interMs, fall, rise } = checkTiming(shipped);
    const agentInterMs = Number(shipped.match(/agent-inter (\d+)ms/)![1]);
    const nodes = await startNodes((name) =>
      name === "node2" ? ["--agent-bad", "drain"] : []
    );
    try {
      await using haproxy = new Haproxy(shipped, nodes);
      await haproxy.allUp();
      const port = haproxy.agentPort;
      const before = await traffic(port, 6);
      assert.deepEqual(new Set(before), new Set(NODES), before.join(" "));

      // BAD: the agent says "down"; the plain connect check still passes.
      const node3 = nodes[2]!;
      const badAt = performance.now();
      await tell(node3, "setbad");
      const down = await watchUntil(haproxy, {
        backend: "tcpservd_agent",
        port,
        name: "node3",
        state: (row) => row.srv_op_state === "0",
        start: badAt,
        what: "node3 DOWN by its agent",
      });
      report("agent-check, setbad to DOWN", down.stateMs);
      const agentBound = fall * agentInterMs + agentInterMs + SLACK_MS;
      assert.ok(down.stateMs <= agentBound, `${down.stateMs} ms`);
      assert.ok(!(await traffic(port, 9)).includes("node3"));
      const goodAt = performance.now();
      await tell(node3, "setgood");
      const up = await watchUntil(haproxy, {
        backend: "tcpservd_agent",
        port,
        name: "node3",
        state: (row) => row.srv_op_state === "2",
        start: goodAt,
        what: "node3 UP again by its agent",
      });
      report("agent-check, setgood to UP", up.stateMs);
      assert.ok(
        up.stateMs <= rise * Math.max(interMs, agentInterMs) + agentInterMs +
            SLACK_MS,
        `${up.stateMs} ms`,
      );

      // --agent-bad drain: BAD drains node2 (HAProxy keeps it UP, sends it
      // nothing new); GOOD makes it READY again.
      const node2 = nodes[1]!;
      await tell(node2, "setbad");
      await waitFor(
        async () =>
          (await haproxy.stat("tcpservd_agent", "node2")).status ===
            "DRAIN (agent)",
        { what: "node2 in DRAIN while BAD", ms: 10000 },
      );
      assert.ok(!(await traffic(port, 9)).includes("node2"));
      await tell(node2, "setgood");
      await waitFor(
        async () =>
          (await haproxy.stat("tcpservd_agent", "node2")).status === "UP",
        {
          what: "node2 UP again",
          ms: 10000,
        },
      );

      // Drain: a session on node1 stays, new connections go elsewhere.
      const node1 = nodes[0]!;
      let kept: Deno.TcpConn | undefined;
      const opened: Deno.TcpConn[] = [];
      try {
        // Round robin: one of the next three sessions lands on node1.
        for (let i = 0; i < 3 && kept === undefined; i++) {
          const conn = await session(port);
          opened.push(conn);
          if ((await ask(conn, "hostname")) === "hostname:[node1]\n") {
            kept = conn;
          }
        }
        assert.ok(kept, "a session on node1");
        const drainAt = performance.now();
        assert.deepEqual(await tell(node1, "setdrain"), [
          "Agent says up drain\n",
        ]);
        // The operator sees it in tcpservd's log.
        await node1.server.waitForLine(/agent up ready -> up drain/, 5000);
        const drained = await waitFor(async () => {
          const row = (await haproxy.servers("tcpservd_agent")).get("node1")!;
          // The agent's drain: HAProxy's admin state DRAIN (bit 0x08/0x10).
          return (Number(row.srv_admin_state) & 0x18) !== 0
            ? performance.now() - drainAt
            : 0;
        }, { what: "node1 in DRAIN", ms: 10000, intervalMs: 10 });
        report("agent-check, setdrain to DRAIN", drained);
        const whileDrained = await traffic(port, 9);
        assert.ok(!whileDrained.includes("node1"), whileDrained.join(" "));
        // The kept session still works, on node1, and node1 is still GOOD.
        assert.equal(await ask(kept, "hostname"), "hostname:[node1]\n");
        assert.equal(await ask(kept, "getstatus"), "GOOD\n");
        const stat = await haproxy.stat("tcpservd_agent", "node1");
        assert.equal(stat.status, "DRAIN (agent)", JSON.stringify(stat));
        assert.ok(Number(stat.scur) >= 1, `sessions on node1: ${stat.scur}`);
      } finally {
        for (const conn of opened) conn.close();
      }
      assert.deepEqual(await tell(node1, "setready", "setweight 50"), [
        "Agent says up ready\n",
        "Agent says up ready 50%\n",
      ]);
      await waitFor(async () => {
        const row = (await haproxy.servers("tcpservd_agent")).get("node1")!;
        return (Number(row.srv_admin_state) & 0x18) === 0 &&
          Number(row.srv_uweight) * 2 === Number(row.srv_iweight);
      }, { what: "node1 READY at half its weight", ms: 10000 });
      assert.deepEqual(await tell(node1, "setmaxconn 7"), [
        "Agent says up ready 50% maxconn:7\n",
      ]);
      await waitFor(
        async () =>
          (await haproxy.stat("tcpservd_agent", "node1")).slim === "7",
        {
          what: "node1's maxconn 7 in show stat",
          ms: 10000,
        },
      );
      assert.ok((await traffic(port, 12)).includes("node1"));
    } finally {
      for (const node of nodes) await node.server[Symbol.asyncDispose]();
    }
  },
});

Deno.test("tcpservd refuses the agent commands where setgood is refused (--read-only), and answers agentstatus", async () => {
  await using server = await ServerProcess.start([
    "--read-only",
    "--agent-port",
    "0",
  ]);
  const conn = await session(server.port);
  try {
    for (
      const line of ["setdrain", "setready", "setweight 5", "setmaxconn 1"]
    ) {
      const name = line.split(" ")[0];
      assert.equal(
        await ask(conn, line),
        `ERR ${name} is not allowed: read-only server\n`,
      );
    }
    assert.equal(await ask(conn, "agentstatus"), "Agent says up ready\n");
    assert.equal(
      await ask(conn, "setweight 300"),
      "ERR setweight: PERCENT must be an integer from 0 to 256\n",
    );
  } finally {
    conn.close();
  }
});
