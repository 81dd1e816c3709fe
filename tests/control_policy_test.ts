/**
 * Who may change a tcpservd, seen from real clients: a client in a second
 * network namespace (its own address, over a veth pair) and loopback
 * clients. The namespaces and their addresses (198.51.100.0/24, a
 * documentation range, only inside them) are made and removed here.
 */
import assert from "node:assert/strict";
import {
  ask,
  CommandProcess,
  runTcpcli,
  ServerProcess,
  session,
  taskArgs,
} from "./_helpers.ts";

const SERVER_IP = "198.51.100.1";
const CLIENT_IP = "198.51.100.2";

function run(args: string[]): { ok: boolean; text: string } {
  try {
    const out = new Deno.Command(args[0]!, {
      args: args.slice(1),
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const text = new TextDecoder().decode(out.stderr).trim();
    return { ok: out.success, text };
  } catch (error) {
    return { ok: false, text: String(error) };
  }
}

/** Why namespaces cannot be made here, or undefined when they can. */
function netnsImpossible(): string | undefined {
  const name = `tcpkit-probe-${Deno.pid}`;
  const added = run(["ip", "netns", "add", name]);
  if (!added.ok) return `ip netns add failed: ${added.text}`;
  run(["ip", "netns", "del", name]);
  return undefined;
}

const whyNoNetns = netnsImpossible();
if (whyNoNetns !== undefined) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.error(
    `control_policy_test: skipping the two-namespace tests: ${whyNoNetns}`,
  );
}

/** Two namespaces joined by a veth pair; `server` at SERVER_IP, `client` at CLIENT_IP. */
class NamespacePair {
  readonly server = `tcpkit-srv-${Deno.pid}`;
  readonly client = `tcpkit-cli-${Deno.pid}`;

  constructor() {
    const veth = `tkv${Deno.pid % 100000}`;
    const steps = [
      ["ip", "netns", "add", this.server],
      ["ip", "netns", "add", this.client],
      [
        "ip",
        "link",
        "add",
        `${veth}a`,
        "type",
        "veth",
        "peer",
        "name",
        `${veth}b`,
      ],
      ["ip", "link", "set", `${veth}a`, "netns", this.server],
      ["ip", "link", "set", `${veth}b`, "netns", this.client],
      [
        "ip",
        "-n",
        this.server,
        "addr",
        "add",
        `${SERVER_IP}/24`,
        "dev",
        `${veth}a`,
      ],
      [
        "ip",
        "-n",
        this.client,
        "addr",
        "add",
        `${CLIENT_IP}/24`,
        "dev",
        `${veth}b`,
      ],
      ["ip", "-n", this.server, "link", "set", "lo", "up"],
      ["ip", "-n", this.client, "link", "set", "lo", "up"],
      ["ip", "-n", this.server, "link", "set", `${veth}a`, "up"],
      ["ip", "-n", this.client, "link", "set", `${veth}b`, "up"],
    ];
    for (const step of steps) {
      const result = run(step);
      if (!result.ok) {
        this.remove();
        throw new Error(`${step.join(" ")} failed: ${result.text}`);
      }
    }
  }

  /** Starts tcpservd in the server namespace, on all its addresses. */
  startServer(args: string[]): Promise<ServerProcess> {
    return ServerProcess.start(
      [
        "netns",
        "exec",
        this.server,
        Deno.execPath(),
        ...taskArgs("tcpservd"),
        "-a",
        "0.0.0.0",
        ...args,
      ],
      { command: "ip" },
    );
  }

  /** Runs `tcpcli -c …` from the client namespace (or the server's, for its loopback). */
  async tcpcli(
    where: "client" | "server-loopback",
    port: number,
    commands: string[],
  ): Promise<string> {
    const [ns, host] = where === "client"
      ? [this.client, SERVER_IP]
      : [this.server, "127.0.0.1"];
    await using cli = new CommandProcess(
      [
        "netns",
        "exec",
        ns,
        Deno.execPath(),
        ...taskArgs("tcpcli"),
        ...commands.flatMap((c) => ["-c", c]),
        host,
        String(port),
      ],
      { command: "ip" },
    );
    await cli.wait(20000);
    return cli.stdout;
  }

  remove(): void {
    run(["ip", "netns", "del", this.server]);
    run(["ip", "netns", "del", this.client]);
  }
}

Deno.test({
  name:
    "tcpservd refuses fault commands from another host by default, and allows setbad",
  ignore: whyNoNetns !== undefined,
  async fn() {
    const pair = new NamespacePair();
    try {
      await using server = await pair.startServer(["-w", "2"]);
      const remote = await pair.tcpcli("client", server.port, [
        "fault crash",
        ...Array(9).fill("fault crash on=current"),
        "fault stall-accept",
        "setbad",
      ]);
      const refusal = `ERR fault commands are not allowed from ${CLIENT_IP}`;
      assert.equal(remote.split(refusal).length - 1, 11, remote);
      assert.match(remote, /Status is BAD/);
      await server.waitForLine(/refused fault/);
      // Still serving, both workers: the crash attempts did nothing.
      for (let i = 0; i < 4; i++) {
        const again = await pair.tcpcli("client", server.port, ["getstatus"]);
        assert.match(again, /^BAD$/m);
      }
      assert.equal(server.exited, undefined, server.stderr);
      // The host's own clients may inject faults.
      const local = await pair.tcpcli("server-loopback", server.port, [
        "fault list",
        "setgood",
      ]);
      assert.match(local, /no faults/);
      assert.match(local, /Status is GOOD/);
    } finally {
      pair.remove();
    }
  },
});

Deno.test({
  name:
    "tcpservd --control-from lets those ranges change state, and nobody else",
  ignore: whyNoNetns !== undefined,
  async fn() {
    const pair = new NamespacePair();
    try {
      await using server = await pair.startServer([
        "--control-from",
        `${CLIENT_IP}/32`,
      ]);
      const remote = await pair.tcpcli("client", server.port, [
        "fault delay ms=1 p=0",
        "fault list",
        "setbad",
      ]);
      assert.match(remote, /OK fault 1: delay/);
      assert.match(remote, /Status is BAD/);
      const local = await pair.tcpcli("server-loopback", server.port, [
        "setgood",
        "fault clear",
        "getstatus",
      ]);
      assert.match(local, /ERR setgood is not allowed from 127\.0\.0\.1/);
      assert.match(
        local,
        /ERR fault commands are not allowed from 127\.0\.0\.1/,
      );
      assert.match(local, /^BAD$/m);
    } finally {
      pair.remove();
    }
  },
});

Deno.test("tcpservd --read-only refuses every state change, loopback included, and still answers getstatus", async () => {
  await using server = await ServerProcess.start(["--read-only"]);
  await server.waitForLine(/control: read-only/);
  const conn = await session(server.port);
  try {
    for (
      const [line, what] of [
        ["setbad", "setbad is"],
        ["setgood", "setgood is"],
        ["startloop 1", "startloop is"],
        ["fault crash", "fault commands are"],
      ] as const
    ) {
      assert.equal(
        await ask(conn, line),
        `ERR ${what} not allowed: read-only server\n`,
      );
    }
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
  } finally {
    conn.close();
  }
  // Logged once for the connection, not once per line.
  assert.equal(
    server.lines.filter((l) => /refused/.test(l)).length,
    1,
    server.stderr,
  );
  const probe = await runTcpcli(["127.0.0.1", String(server.port)]);
  assert.equal(probe.code, 0);
});

Deno.test("tcpservd --control-from without loopback refuses the host's own clients", async () => {
  await using server = await ServerProcess.start([
    "--control-from",
    "192.0.2.0/24",
    "--initial-state",
    "bad",
  ]);
  const conn = await session(server.port);
  try {
    assert.equal(
      await ask(conn, "setgood"),
      "ERR setgood is not allowed from 127.0.0.1\n",
    );
    assert.equal(await ask(conn, "getstatus"), "BAD\n");
  } finally {
    conn.close();
  }
});
