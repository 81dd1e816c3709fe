/**
 * systemd integration over real processes: the real
 * `systemd-socket-activate` opens the port and starts tcpservd, takeover
 * server or iotcpd on the first connection; a NOTIFY_SOCKET listener of
 * our own (an AF_UNIX datagram socket bound through ffi/) collects READY,
 * STATUS, WATCHDOG and STOPPING.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import denoConfig from "../deno.json" with { type: "json" };
import {
  closeFd,
  constants,
  EAGAIN,
  listenTcp,
  Reactor,
  tryRead,
} from "../ffi/mod.ts";
import { bindUnixDatagram } from "../ffi/unix_datagram.ts";
import { IOTCPD_USAGE, parseIotcpdArgs } from "../pool/iotcpd_cli.ts";
import { parseTcpservdArgs, TCPSERVD_USAGE } from "../server/tcpservd_cli.ts";
import { ListenerHandOff, receiveListener } from "../server/worker_listener.ts";
import { parseServerArgs, SERVER_USAGE } from "../takeover/server_cli.ts";
import {
  ask,
  CommandProcess,
  connect,
  readToEnd,
  readUntil,
  ROOT,
  session,
  waitFor,
  within,
} from "./_helpers.ts";

const ACTIVATE = "/usr/bin/systemd-socket-activate";
const decoder = new TextDecoder();
const encoder = new TextEncoder();

const activateMissing = await Deno.stat(ACTIVATE).then(() => false, () => true);
if (activateMissing) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.log(
    `systemd_test: ${ACTIVATE} is missing (Debian package systemd): skipping the socket-activation tests`,
  );
}

/** The `deno` arguments of a command's task, as users get them. */
function task(name: "tcpservd" | "iotcpd" | "takeover"): string[] {
  return denoConfig.tasks[name].split(/\s+/).slice(1);
}

/** A port that was free a moment ago, for systemd-socket-activate -l. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** What the test process passes on (systemd-socket-activate copies only PATH, HOME, USER, TERM). */
function passedEnv(): string[] {
  const args = ["-E", "NO_COLOR=1", "-E", "RUST_BACKTRACE=0"];
  for (const name of ["DENO_DIR", "TCPKIT_LIBC_PATH"]) {
    if (Deno.env.get(name) !== undefined) args.push("-E", name);
  }
  return args;
}

/** A NOTIFY_SOCKET: a bound AF_UNIX datagram socket and the messages it got. */
class NotifyListener {
  readonly path: string;
  readonly messages: string[] = [];
  readonly #dir: string;
  readonly #fd: number;
  readonly #reactor: Reactor;
  readonly #waiters = new Set<() => void>();

  private constructor(dir: string) {
    this.#dir = dir;
    this.path = `${dir}/notify`;
    this.#fd = bindUnixDatagram(this.path);
    this.#reactor = Reactor.create();
    const buffer = new Uint8Array(4096);
    this.#reactor.watch(this.#fd, constants.EPOLLIN, () => {
      // Bounded: the queue holds what was sent, and each read takes one.
      for (let i = 0; i < 1000; i++) {
        const n = tryRead(this.#fd, buffer);
        if (n === -EAGAIN || n <= 0) break;
        this.messages.push(decoder.decode(buffer.subarray(0, n)));
      }
      for (const wake of this.#waiters) wake();
    });
  }

  static async create(): Promise<NotifyListener> {
    return new NotifyListener(
      await Deno.makeTempDir({ prefix: "tcpkit_systemd_" }),
    );
  }

  /** Index of the first message from `from` on that matches, waiting (bounded). */
  async waitFor(pattern: RegExp, ms = 15000, from = 0): Promise<number> {
    const find = () =>
      this.messages.findIndex((m, i) => i >= from && pattern.test(m));
    return await within(
      ms,
      `a notification matching ${pattern} (got ${
        JSON.stringify(this.messages)
      })`,
      (async () => {
        while (find() < 0) {
          const { promise, resolve } = Promise.withResolvers<void>();
          this.#waiters.add(resolve);
          try {
            await promise;
          } finally {
            this.#waiters.delete(resolve);
          }
        }
        return find();
      })(),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const wake of this.#waiters) wake();
    this.#reactor.unwatch(this.#fd);
    await this.#reactor.close();
    closeFd(this.#fd);
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/**
 * `systemd-socket-activate -l 127.0.0.1:PORT --fdname=NAME -E … -- deno
 * run … ARGS`, waiting for its own "Listening on" line. It execs the
 * command (same pid) on the first connection.
 */
async function activate(
  command: string[],
  options: {
    /** One socket per port, fds 3, 4, … in this order. */
    port: number | number[];
    /** Their names, `:`-separated. */
    name: string;
    env?: string[];
    datagram?: boolean;
  },
): Promise<CommandProcess> {
  const env = (options.env ?? []).flatMap((entry) => ["-E", entry]);
  const ports = [options.port].flat();
  const proc = new CommandProcess([
    ...(options.datagram ? ["--datagram"] : []),
    ...ports.flatMap((port) => ["-l", `127.0.0.1:${port}`]),
    `--fdname=${options.name}`,
    ...passedEnv(),
    ...env,
    "--",
    Deno.execPath(),
    ...command,
  ], { command: ACTIVATE });
  try {
    await proc.waitForLine(
      new RegExp(`Listening on 127\\.0\\.0\\.1:\\d+ as ${2 + ports.length}\\.`),
    );
  } catch (error) {
    await proc[Symbol.asyncDispose]();
    throw error;
  }
  return proc;
}

/** The TCP ports PID listens on, from `ss -p`. */
async function listeningPorts(pid: number): Promise<number[]> {
  const out = await new Deno.Command("ss", { args: ["-ltnpH"] }).output();
  if (!out.success) throw new Error("Cannot run ss");
  const ports: number[] = [];
  for (const line of decoder.decode(out.stdout).split("\n")) {
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[3] ?? "";
    ports.push(Number(local.slice(local.lastIndexOf(":") + 1)));
  }
  return ports.sort((a, b) => a - b);
}

/** Starts `deno ARGS` with extra environment, set by a shell that execs it (same pid, so LISTEN_PID=$$ is the command's). */
function startWithEnv(
  env: string,
  command: string[],
  redirect = "",
): CommandProcess {
  return new CommandProcess([
    "-c",
    `${env} exec "$0" "$@" ${redirect}`,
    Deno.execPath(),
    ...command,
  ], { command: "/bin/sh" });
}

Deno.test({
  name:
    "systemd: tcpservd --echo serves the first client on the socket systemd-socket-activate passed, with READY, STATUS, STOPPING",
  ignore: activateMissing,
  async fn() {
    await using notify = await NotifyListener.create();
    const port = freePort();
    await using server = await activate(
      [...task("tcpservd"), "--echo", "-p", "1"],
      { port, name: "echo", env: [`NOTIFY_SOCKET=${notify.path}`] },
    );
    // Nothing of ours runs yet: this connection makes the process start.
    using conn = await connect(port);
    await conn.write(encoder.encode("hello over fd 3\n"));
    const { text } = await readUntil(conn, (t) => t.endsWith("\n"));
    assert.equal(text, "hello over fd 3\n");
    await server.waitForLine(
      new RegExp(
        `socket activation: serving fd 3 "echo" 127\\.0\\.0\\.1:${port}`,
      ),
    );
    const ready = await notify.waitFor(/^READY=1$/m);
    assert.match(
      notify.messages[ready]!,
      new RegExp(`STATUS=serving on 127\\.0\\.0\\.1:${port}`),
    );
    // -p 1 was ignored, and no listener of its own was opened.
    assert.deepEqual(await listeningPorts(server.pid), [port]);
    server.kill("SIGTERM");
    const stopping = await notify.waitFor(/^STOPPING=1$/m, 15000, ready + 1);
    assert.match(
      notify.messages[stopping]!,
      /STATUS=SIGTERM: draining 1 connections/,
    );
    conn.close();
    assert.equal((await server.wait()).code, 0);
  },
});

Deno.test({
  name:
    "systemd: tcpservd command mode serves the passed socket (FdListener under the Deno engine)",
  ignore: activateMissing,
  async fn() {
    await using notify = await NotifyListener.create();
    const port = freePort();
    await using server = await activate(
      [...task("tcpservd"), "--initial-state", "bad"],
      { port, name: "tcpservd", env: [`NOTIFY_SOCKET=${notify.path}`] },
    );
    using conn = await session(port);
    assert.equal(await ask(conn, "getstatus"), "BAD\n");
    assert.equal(await ask(conn, "setgood"), "Status is GOOD\n");
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
    await notify.waitFor(/^READY=1$/m);
    assert.deepEqual(await listeningPorts(server.pid), [port]);
    server.kill("SIGTERM");
    await notify.waitFor(/^STOPPING=1$/m);
    assert.equal((await server.wait()).code, 0);
  },
});

Deno.test({
  name:
    "systemd: takeover server needs no -a/-p under socket activation and echoes seqnums on both sockets passed",
  ignore: activateMissing,
  async fn() {
    await using notify = await NotifyListener.create();
    const ports = [freePort(), freePort()];
    await using server = await activate(
      [...task("takeover"), "server"],
      {
        port: ports,
        name: "seqnum:seqnum2",
        env: [`NOTIFY_SOCKET=${notify.path}`],
      },
    );
    for (const [i, port] of ports.entries()) {
      using conn = await connect(port);
      const seqnum = new Uint8Array([0, 0, 1, i]);
      await conn.write(seqnum);
      const echoed = new Uint8Array(4);
      let got = 0;
      await within(
        10000,
        "the seqnum echo",
        (async () => {
          while (got < 4) {
            const n = await conn.read(echoed.subarray(got));
            if (n === null) throw new Error("EOF before the echo");
            got += n;
          }
        })(),
      );
      assert.deepEqual(echoed, seqnum);
    }
    await server.waitForLine(
      new RegExp(
        `serving fd 3 "seqnum" 127\\.0\\.0\\.1:${ports[0]}, fd 4 "seqnum2"`,
      ),
    );
    await notify.waitFor(/^READY=1$/m);
    assert.deepEqual(
      await listeningPorts(server.pid),
      [...ports].sort((a, b) => a - b),
    );
    server.kill("SIGTERM");
    await notify.waitFor(/^STOPPING=1$/m);
    assert.equal((await server.wait()).code, 0);
  },
});

Deno.test({
  name: "systemd: WATCHDOG_USEC makes tcpservd --echo ping WATCHDOG=1",
  ignore: activateMissing,
  async fn() {
    await using notify = await NotifyListener.create();
    const port = freePort();
    await using server = await activate(
      [...task("tcpservd"), "--echo"],
      {
        port,
        name: "echo",
        env: [`NOTIFY_SOCKET=${notify.path}`, "WATCHDOG_USEC=200000"],
      },
    );
    using conn = await connect(port);
    await conn.write(encoder.encode("x"));
    await readUntil(conn, (t) => t === "x");
    const ready = await notify.waitFor(/^READY=1$/m);
    const first = await notify.waitFor(/^WATCHDOG=1$/m, 15000, ready + 1);
    await notify.waitFor(/^WATCHDOG=1$/m, 15000, first + 1);
    server.kill("SIGTERM");
    conn.close();
    assert.equal((await server.wait()).code, 0);
  },
});

Deno.test({
  name:
    "systemd: modes that cannot serve a passed socket exit 64 naming why instead of listening elsewhere",
  ignore: activateMissing,
  async fn() {
    const cases: [string[], RegExp, number][] = [
      [
        [...task("tcpservd"), "-w", "2"],
        /one socket is served \(2 were passed\) unless --takeover PATH/,
        2,
      ],
      [
        [...task("tcpservd"), "--takeover-from", "/nonexistent/ctl.sock"],
        /--takeover-from takes the listener from the old process/,
        1,
      ],
      [
        [...task("tcpservd"), "--echo"],
        /one socket is served \(2 were passed\) unless --takeover PATH/,
        2,
      ],
    ];
    for (const [command, pattern, count] of cases) {
      const ports = Array.from({ length: count }, freePort);
      await using proc = await activate(command, {
        port: ports,
        name: ports.map(() => "x").join(":"),
      });
      const conn = await connect(ports[0]!);
      try {
        const status = await proc.wait();
        assert.equal(status.code, 64, proc.stderr);
        assert.match(proc.stderr, pattern);
        assert.match(proc.stderr, /socket activation/);
      } finally {
        conn.close();
      }
    }
  },
});

Deno.test({
  name:
    "systemd: tcpservd --buggy and --fault (the Deno engine) serve the passed socket",
  ignore: activateMissing,
  async fn() {
    const buggyPort = freePort();
    await using buggy = await activate([...task("tcpservd"), "--buggy"], {
      port: buggyPort,
      name: "buggy",
    });
    {
      using conn = await connect(buggyPort);
      await conn.write(encoder.encode("ping\n"));
      assert.equal(
        (await readUntil(conn, (t) => t.endsWith("\n"))).text,
        "pong\n",
      );
      assert.deepEqual(await listeningPorts(buggy.pid), [buggyPort]);
    }
    buggy.kill("SIGTERM");
    assert.equal((await buggy.wait()).code, 0);

    const faultPort = freePort();
    await using faulty = await activate(
      [...task("tcpservd"), "--echo", "--fault", "close after=3"],
      { port: faultPort, name: "faulty" },
    );
    {
      using conn = await connect(faultPort);
      await conn.write(encoder.encode("hello\n"));
      // The fault cuts the echo: 3 bytes, then the server's FIN.
      assert.equal(await readToEnd(conn), "hel");
      assert.match(faulty.stderr, /fault close after=3 .*applied/);
      assert.deepEqual(await listeningPorts(faulty.pid), [faultPort]);
    }
    faulty.kill("SIGTERM");
    assert.equal((await faulty.wait()).code, 0);
  },
});

Deno.test({
  name:
    "systemd: iotcpd serves the two sockets passed, with READY and STOPPING; its daemons do not inherit them",
  ignore: activateMissing,
  async fn() {
    await using notify = await NotifyListener.create();
    // The daemon answers whether it holds fds 3 and 4 (systemd's sockets,
    // passed without close-on-exec).
    const script = `${notify.path}.sh`;
    await Deno.writeTextFile(
      script,
      `#!/bin/sh
while read -r line; do
  for fd in 3 4; do
    if [ -e /proc/$$/fd/$fd ]; then printf "$fd:open "; else printf "$fd:closed "; fi
  done
  echo "$line"
done
`,
      { mode: 0o755 },
    );
    const ports = [freePort(), freePort()];
    await using iotcpd = await activate(
      [...task("iotcpd"), "-n", "2", "-d", script],
      {
        port: ports,
        name: "first:second",
        env: [`NOTIFY_SOCKET=${notify.path}`],
      },
    );
    for (const port of ports) {
      const conn = await connect(port);
      await conn.write(encoder.encode(`to ${port}\n`));
      assert.equal(await readToEnd(conn), `3:closed 4:closed to ${port}\n`);
      conn.close();
    }
    await iotcpd.waitForLine(
      new RegExp(
        `serving fd 3 "first" 127\\.0\\.0\\.1:${
          ports[0]
        }, fd 4 "second" 127\\.0\\.0\\.1:${ports[1]}`,
      ),
    );
    const ready = await notify.waitFor(/^READY=1$/m);
    assert.deepEqual(
      await listeningPorts(iotcpd.pid),
      [...ports].sort((a, b) => a - b),
    );
    iotcpd.kill("SIGTERM");
    await notify.waitFor(/^STOPPING=1$/m, 15000, ready + 1);
    assert.equal((await iotcpd.wait()).code, 0);
  },
});

Deno.test({
  name:
    "systemd: a passed socket that is not a listening TCP socket is refused clearly (UDP, /dev/null)",
  ignore: activateMissing,
  async fn() {
    const port = freePort();
    await using udp = await activate([...task("tcpservd"), "--echo"], {
      port,
      name: "dgram",
      datagram: true,
    });
    // The first datagram makes systemd-socket-activate start the command.
    const sender = dgram.createSocket("udp4");
    try {
      await new Promise<void>((resolve, reject) =>
        sender.send(
          "wake",
          port,
          "127.0.0.1",
          (error) => error ? reject(error) : resolve(),
        )
      );
    } finally {
      sender.close();
    }
    assert.equal((await udp.wait()).code, 64);
    assert.match(
      udp.stderr,
      /fd 3 \("dgram"\) from LISTEN_FDS is not a listening TCP socket: it is a UDP socket \(IPv4\)/,
    );

    await using file = startWithEnv(
      "LISTEN_PID=$$ LISTEN_FDS=1",
      [...task("takeover"), "server"],
      "3</dev/null",
    );
    assert.equal((await file.wait()).code, 64);
    assert.match(
      file.stderr,
      /fd 3 \("unknown"\) from LISTEN_FDS is not a listening TCP socket: it is not a socket/,
    );
  },
});

Deno.test({
  name:
    "systemd: tcpservd's agent-check listens on the passed socket's address, not on -a's default 0.0.0.0",
  ignore: activateMissing,
  async fn() {
    const port = freePort();
    const agentPort = freePort();
    await using server = await activate(
      [...task("tcpservd"), "--agent-port", String(agentPort)],
      { port, name: "tcpservd" },
    );
    using conn = await session(port);
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
    await server.waitForLine(
      new RegExp(`agent-check on 127\\.0\\.0\\.1:${agentPort}`),
    );
    const out = await new Deno.Command("ss", { args: ["-ltnH"] }).output();
    const locals = decoder.decode(out.stdout).split("\n")
      .map((line) => line.trim().split(/\s+/)[3] ?? "")
      .filter((local) => local.endsWith(`:${agentPort}`));
    assert.deepEqual(locals, [`127.0.0.1:${agentPort}`]);
  },
});

Deno.test("systemd: a malformed LISTEN_FDS or LISTEN_FDNAMES is a clear error", async () => {
  const cases: [string, string[], RegExp][] = [
    [
      "LISTEN_PID=$$ LISTEN_FDS=abc",
      [...task("tcpservd"), "--echo"],
      /Invalid LISTEN_FDS "abc"/,
    ],
    [
      "LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=one",
      [...task("takeover"), "server"],
      /Invalid LISTEN_FDNAMES "one": 1 names for LISTEN_FDS=2/,
    ],
    [
      "LISTEN_PID=$$ LISTEN_FDS=-1",
      [...task("iotcpd")],
      /Invalid LISTEN_FDS "-1"/,
    ],
  ];
  for (const [env, command, pattern] of cases) {
    await using proc = startWithEnv(env, command);
    assert.equal((await proc.wait()).code, 64, proc.stderr);
    assert.match(proc.stderr, pattern);
  }
});

Deno.test("systemd: LISTEN_PID of another process is ignored: tcpservd listens itself", async () => {
  await using server = startWithEnv("LISTEN_PID=1 LISTEN_FDS=1", [
    ...task("tcpservd"),
    "--echo",
    "-a",
    "127.0.0.1",
    "-p",
    "0",
  ]);
  const match = await server.waitForLine(/listening on 127\.0\.0\.1:(\d+)/);
  const port = Number(match[1]);
  assert.notEqual(port, 0);
  assert.doesNotMatch(server.stderr, /socket activation/);
  using conn = await connect(port);
  await conn.write(encoder.encode("own listener"));
  assert.equal(
    (await readUntil(conn, (t) => t.length >= 12)).text,
    "own listener",
  );
  assert.deepEqual(await listeningPorts(server.pid), [port]);
});

Deno.test("systemd: iotcpd notifies READY and STOPPING, and its daemons see none of the systemd variables", async () => {
  await using notify = await NotifyListener.create();
  const script = `${notify.path}.sh`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh
while read -r line; do
  echo "NOTIFY_SOCKET=\${NOTIFY_SOCKET-unset} LISTEN_FDS=\${LISTEN_FDS-unset} LISTEN_PID=\${LISTEN_PID-unset} LISTEN_FDNAMES=\${LISTEN_FDNAMES-unset} WATCHDOG_USEC=\${WATCHDOG_USEC-unset}"
done
`,
    { mode: 0o755 },
  );
  await using iotcpd = startWithEnv(
    `NOTIFY_SOCKET=${notify.path} WATCHDOG_USEC=60000000 LISTEN_PID=1 LISTEN_FDS=1 LISTEN_FDNAMES=x`,
    [...task("iotcpd"), "-n", "1", "-d", script, "-i", "127.0.0.1", "-p", "0"],
  );
  const match = await iotcpd.waitForLine(/listening on 127\.0\.0\.1:(\d+)/);
  const ready = await notify.waitFor(/^READY=1$/m);
  assert.match(
    notify.messages[ready]!,
    new RegExp(`STATUS=serving on 127\\.0\\.0\\.1:${match[1]}`),
  );
  const conn = await connect(Number(match[1]));
  await conn.write(encoder.encode("env\n"));
  assert.equal(
    await readToEnd(conn),
    "NOTIFY_SOCKET=unset LISTEN_FDS=unset LISTEN_PID=unset LISTEN_FDNAMES=unset WATCHDOG_USEC=unset\n",
  );
  conn.close();
  iotcpd.kill("SIGTERM");
  await notify.waitFor(/^STOPPING=1$/m, 15000, ready + 1);
  assert.equal((await iotcpd.wait()).code, 0);
});

Deno.test({
  name:
    "systemd: a socket-activated tcpservd --takeover PATH hands the passed listener, a client and the state to a new process",
  ignore: activateMissing,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcpkit_systemd_" });
    try {
      const path = `${dir}/ctl.sock`;
      const port = freePort();
      await using old = await activate(
        [...task("tcpservd"), "--takeover", path],
        { port, name: "tcpservd" },
      );
      using conn = await session(port);
      assert.equal(await ask(conn, "setbad"), "Status is BAD\n");
      await old.waitForLine(/offering takeover on/);
      await using next = new CommandProcess([
        ...task("tcpservd"),
        "--takeover-from",
        path,
      ]);
      await next.waitForLine(/took over 1 connections/);
      assert.equal((await old.wait()).code, 0);
      assert.match(old.stderr, /handed over: exiting/);
      // The same client, and a new one, now talk to the new process.
      assert.equal(await ask(conn, "getstatus"), "BAD\n");
      using second = await session(port);
      assert.equal(await ask(second, "getstatus"), "BAD\n");
      assert.deepEqual(await listeningPorts(next.pid), [port]);
      next.kill("SIGTERM");
      assert.equal((await next.wait()).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("systemd: with -w 2 the master alone sends READY=1 (once, after its workers), then STOPPING=1", async () => {
  await using notify = await NotifyListener.create();
  await using master = startWithEnv(`NOTIFY_SOCKET=${notify.path}`, [
    ...task("tcpservd"),
    "-w",
    "2",
    "-a",
    "127.0.0.1",
    "-p",
    "0",
  ]);
  const match = await master.waitForLine(/listening on 127\.0\.0\.1:(\d+)/);
  const ready = await notify.waitFor(/^READY=1$/m);
  // A worker's datagram would have come first: each is ready before the master.
  assert.equal(ready, 0, JSON.stringify(notify.messages));
  assert.match(
    notify.messages[ready]!,
    new RegExp(`STATUS=serving on 127\\.0\\.0\\.1:${match[1]} with 2 workers`),
  );
  master.kill("SIGTERM");
  await notify.waitFor(/^STOPPING=1\nSTATUS=SIGTERM: stopping 2 workers$/);
  assert.equal((await master.wait()).code, 0);
  assert.equal(
    notify.messages.filter((m) => /^READY=1$/m.test(m)).length,
    1,
  );
});

/** The pid that holds each server-side connection of PORT, from `ss -tnp`. */
async function connectionOwners(port: number): Promise<number[]> {
  const out = await new Deno.Command("ss", {
    args: ["-tnpH", "state", "established", `( sport = :${port} )`],
  }).output();
  if (!out.success) throw new Error("Cannot run ss");
  return decoder.decode(out.stdout).split("\n").flatMap((line) => {
    const match = line.match(/pid=(\d+),/);
    return match ? [Number(match[1])] : [];
  });
}

/** The `--listener-from` path on a process's command line, from `ps`. */
async function listenerFromOf(pid: number): Promise<string> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "args=", "-p", String(pid)],
  }).output();
  const match = decoder.decode(out.stdout).match(/--listener-from (\S+)/);
  assert.ok(match, `--listener-from on pid ${pid}'s command line`);
  return match[1]!;
}

/** One answered exchange on a new connection: a command, or an echo. */
async function answeredConn(
  port: number,
  echo: boolean,
): Promise<Deno.TcpConn> {
  if (!echo) {
    const conn = await session(port);
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
    return conn;
  }
  const conn = await connect(port);
  await conn.write(encoder.encode("ping\n"));
  assert.equal(
    (await readUntil(conn, (t) => t.endsWith("\n"))).text,
    "ping\n",
  );
  return conn;
}

/**
 * `-w 2` under socket activation: both workers serve the passed socket
 * (each takes 3 connections at most, so 6 need both), nobody listens
 * elsewhere, a killed worker's replacement serves too, READY=1 comes once
 * from the master, and the hand-off directory is gone after the stop.
 */
async function workersServePassedSocket(echo: boolean): Promise<void> {
  await using notify = await NotifyListener.create();
  const port = freePort();
  await using master = await activate(
    [
      ...task("tcpservd"),
      "-w",
      "2",
      "--max-concurrent-connections",
      "3",
      ...(echo ? ["--echo"] : []),
    ],
    { port, name: "tcpservd", env: [`NOTIFY_SOCKET=${notify.path}`] },
  );
  const conns: Deno.TcpConn[] = [];
  try {
    // The first connection starts the master; it waits for a worker.
    conns.push(await answeredConn(port, echo));
    const pids = await Promise.all([1, 2].map(async (id) =>
      Number(
        (await master.waitForLine(
          new RegExp(
            `worker ${id} \\(pid (\\d+)\\) accepting on 127\\.0\\.0\\.1:${port}`,
          ),
        ))[1],
      )
    ));
    await notify.waitFor(/^READY=1$/m);
    assert.equal(notify.messages.findIndex((m) => /^READY=1$/m.test(m)), 0);
    while (conns.length < 6) conns.push(await answeredConn(port, echo));
    const owners = await connectionOwners(port);
    assert.equal(owners.length, 6, String(owners));
    for (const pid of pids) {
      assert.equal(owners.filter((owner) => owner === pid).length, 3);
    }
    // The one listener is systemd's socket, shared; nobody opened another.
    for (const pid of [master.pid, ...pids]) {
      assert.deepEqual(await listeningPorts(pid), [port], `pid ${pid}`);
    }
    const handOff = await listenerFromOf(pids[0]!);
    // This test process is no worker of the master: it gets a hang-up.
    await assert.rejects(
      receiveListener(handOff, { masterPid: master.pid }),
      /hung up .* without a listener/,
    );
    await master.waitForLine(
      new RegExp(`refused the listener to pid ${Deno.pid} `),
    );
    // A flood of such askers is refused without flooding the log.
    const floodStart = performance.now();
    for (let i = 0; i < 40; i++) {
      await assert.rejects(
        receiveListener(handOff, { masterPid: master.pid }),
        /hung up .* without a listener/,
      );
    }
    const floodSeconds = Math.ceil((performance.now() - floodStart) / 1000);
    const refusedLines = master.lines.filter((line) =>
      line.includes("refused the listener to pid")
    ).length;
    assert.ok(
      refusedLines <= 10 * (floodSeconds + 1),
      `${refusedLines} refusal lines for 41 askers`,
    );
    // Worker 1 dies; its 3 connections go with it. Worker 2 is full, so
    // the next 3 can only be the replacement's.
    const from = master.lines.length;
    Deno.kill(pids[0]!, "SIGKILL");
    const respawned = Number(
      (await master.waitForLine(
        /worker 1 \(pid (\d+)\) accepting/,
        15000,
        from,
      ))[1],
    );
    assert.notEqual(respawned, pids[0]);
    // The dead worker's connections are gone from the server side.
    await waitFor(async () =>
      (await connectionOwners(port)).length === 3, {
      what: `worker 1's connections to close (pid ${pids[0]})`,
      ms: 15000,
    });
    for (let i = 0; i < 3; i++) conns.push(await answeredConn(port, echo));
    const after = await connectionOwners(port);
    assert.equal(after.filter((owner) => owner === respawned).length, 3);
    assert.equal(after.filter((owner) => owner === pids[1]).length, 3);
    assert.deepEqual(await listeningPorts(respawned), [port]);
    assert.equal(await listenerFromOf(respawned), handOff);
    assert.equal(
      notify.messages.filter((m) => /^READY=1$/m.test(m)).length,
      1,
      JSON.stringify(notify.messages),
    );
    for (const conn of conns.splice(0)) conn.close();
    master.kill("SIGTERM");
    await notify.waitFor(/^STOPPING=1$/m);
    assert.equal((await master.wait()).code, 0, master.stderr);
    await assert.rejects(
      Deno.lstat(handOff.slice(0, handOff.lastIndexOf("/"))),
      Deno.errors.NotFound,
    );
  } finally {
    for (const conn of conns) conn.close();
  }
}

Deno.test({
  name:
    "systemd: tcpservd -w 2 (command mode): the master hands the passed socket to both workers and to a respawned one; READY=1 once",
  ignore: activateMissing,
  fn: () => workersServePassedSocket(false),
});

Deno.test({
  name:
    "systemd: tcpservd -w 2 --echo (epoll engine): the master hands the passed socket to both workers and to a respawned one; READY=1 once",
  ignore: activateMissing,
  fn: () => workersServePassedSocket(true),
});

Deno.test("systemd: a worker takes its listener only from its own master, else exits 71 saying why", async () => {
  const worker = [
    ...task("tcpservd"),
    "--worker",
    "1",
    "-a",
    "127.0.0.1",
    "-p",
    "0",
    "--listener-from",
  ];
  await using missing = new CommandProcess([
    ...worker,
    "/nonexistent-tcpkit/listener.sock",
  ]);
  assert.equal((await missing.wait()).code, 71, missing.stderr);
  assert.match(
    missing.stderr,
    /cannot take the listener from the master: Cannot reach the master's listener socket \/nonexistent-tcpkit\/listener\.sock/,
  );
  // A hand-off served by this process, asked by a worker whose parent is
  // a shell: the worker hangs up before taking anything this side sends.
  const tcp = listenTcp({ hostname: "127.0.0.1", port: 0 });
  const handOff = ListenerHandOff.open({
    listenFd: tcp.fd,
    isWorker: () => true,
  });
  try {
    await using stranger = new CommandProcess([
      "-c",
      `"$0" "$@"; exit $?`,
      Deno.execPath(),
      ...worker,
      handOff.path,
    ], { command: "/bin/sh" });
    assert.equal((await stranger.wait()).code, 71, stranger.stderr);
    assert.match(
      stranger.stderr,
      new RegExp(
        `is served by pid ${Deno.pid} \\(uid \\d+\\), not by the master \\(pid ${stranger.pid},`,
      ),
    );
  } finally {
    await handOff.close();
    closeFd(tcp.fd);
  }
});

Deno.test("systemd: each command's help says what it does under systemd", () => {
  for (const usage of [TCPSERVD_USAGE, IOTCPD_USAGE, SERVER_USAGE]) {
    assert.match(usage, /LISTEN_FDS/);
    assert.match(
      usage,
      /NOTIFY_SOCKET: READY=1|NOTIFY_SOCKET it sends READY=1|NOTIFY_SOCKET, READY=1/,
    );
    assert.match(usage, /WATCHDOG=1/);
  }
});

// ---------------------------------------------------------------------------
// The units in contrib/systemd.

const UNITS_DIR = `${ROOT}contrib/systemd/`;
const UNIT_FILES = [
  "tcpservd.socket",
  "tcpservd.service",
  "iotcpd.socket",
  "iotcpd.service",
  "takeover.socket",
  "takeover.service",
];
const SERVICES = UNIT_FILES.filter((name) => name.endsWith(".service"));
const ANALYZE = "/usr/bin/systemd-analyze";
const SYSTEM_UNITS = "/usr/lib/systemd/system";
const analyzeMissing = await Deno.stat(ANALYZE).then(() => false, () => true);
if (analyzeMissing) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.log(
    `systemd_test: ${ANALYZE} is missing (Debian package systemd): skipping the unit checks`,
  );
}

/** A unit file's settings: section, then key, then every value given. */
type Unit = Map<string, Map<string, string[]>>;

async function readUnit(name: string): Promise<Unit> {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of (await Deno.readTextFile(UNITS_DIR + name)).split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = line.match(/^\[(.+)\]$/);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(
      section && eq > 0,
      `${name}: a setting outside a section: ${line}`,
    );
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return unit;
}

function setting(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

async function run(
  command: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, { args, stdin: "null" })
    .output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** The ExecStart= command line, split as systemd splits a plain one. */
function execStart(unit: Unit): string[] {
  const line = setting(unit, "Service", "ExecStart");
  assert.ok(line !== undefined);
  assert.doesNotMatch(line, /["'\\$%;]/, "a plain command line");
  return line.split(/\s+/);
}

Deno.test({
  name:
    "systemd: the contrib/systemd units pass systemd-analyze verify, and a misspelt key would not",
  ignore: analyzeMissing,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "tcpkit_units_" });
    try {
      // An offline root: systemd's own units, ours, and the installed
      // commands as runnable wrappers around this checkout.
      await Deno.mkdir(`${root}/usr/lib/systemd`, { recursive: true });
      assert.equal(
        (await run("cp", ["-r", SYSTEM_UNITS, `${root}/usr/lib/systemd/`]))
          .code,
        0,
      );
      await Deno.mkdir(`${root}/usr/local/bin`, { recursive: true });
      for (const name of ["tcpservd", "iotcpd", "takeover"] as const) {
        const words = task(name).map((word) => `'${word}'`).join(" ");
        await Deno.writeTextFile(
          `${root}/usr/local/bin/${name}`,
          `#!/bin/sh\ncd '${ROOT}' && exec '${Deno.execPath()}' ${words} "$@"\n`,
          { mode: 0o755 },
        );
      }
      const etc = `${root}/etc/systemd/system`;
      await Deno.mkdir(etc, { recursive: true });
      for (const name of UNIT_FILES) {
        await Deno.copyFile(UNITS_DIR + name, `${etc}/${name}`);
      }
      const verify = () =>
        run(ANALYZE, ["verify", `--root=${root}`, ...UNIT_FILES]);
      const good = await verify();
      assert.equal(good.stderr.trim(), "", good.stderr);
      assert.equal(good.code, 0);

      const text = await Deno.readTextFile(`${etc}/tcpservd.service`);
      await Deno.writeTextFile(
        `${etc}/tcpservd.service`,
        text.replace("WatchdogSec=", "WatchdogSecs="),
      );
      assert.match((await verify()).stderr, /Unknown key 'WatchdogSecs'/);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("systemd: each unit's ExecStart runs an installed command with flags its parser accepts", async () => {
  const parsers: Record<string, (args: string[]) => unknown> = {
    "/usr/local/bin/tcpservd": parseTcpservdArgs,
    "/usr/local/bin/iotcpd": parseIotcpdArgs,
    // takeover.service requires takeover.socket: it runs socket-activated.
    "/usr/local/bin/takeover": (args) => {
      assert.equal(args[0], "server");
      return parseServerArgs(args.slice(1), { socketActivated: true });
    },
  };
  for (const name of SERVICES) {
    const [program, ...args] = execStart(await readUnit(name));
    const parse = parsers[program!];
    assert.ok(parse, `${name}: ExecStart runs ${program}`);
    parse(args);
  }
  // The check can fail: a flag the parser does not know.
  assert.throws(() => parseTcpservdArgs(["-p", "1971", "--no-such-flag"]));
});

Deno.test("systemd: the services are Type=notify with a watchdog and the hardening that fits (no MemoryDenyWriteExecute)", async () => {
  for (const name of SERVICES) {
    const unit = await readUnit(name);
    const expect = (key: string, value: string) =>
      assert.equal(setting(unit, "Service", key), value, `${name}: ${key}`);
    expect("Type", "notify");
    expect("NotifyAccess", "main");
    expect("WatchdogSec", "30s");
    expect("DynamicUser", "yes");
    expect("NoNewPrivileges", "yes");
    expect("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX");
    expect("ProtectSystem", "strict");
    expect("ProtectHome", "yes");
    expect("PrivateTmp", "yes");
    expect("LockPersonality", "yes");
    expect("RestrictRealtime", "yes");
    expect("RestrictNamespaces", "yes");
    expect("SystemCallFilter", "@system-service @pkey");
    expect("SystemCallErrorNumber", "EPERM");
    assert.equal(
      unit.get("Service")?.has("MemoryDenyWriteExecute"),
      false,
      `${name}: V8's JIT needs W+X pages`,
    );
  }
  for (const name of UNIT_FILES.filter((n) => n.endsWith(".socket"))) {
    const unit = await readUnit(name);
    assert.match(
      setting(unit, "Socket", "ListenStream") ?? "",
      /^(\S+:)?\d+$/,
    );
    assert.ok(SERVICES.includes(name.replace(".socket", ".service")));
    assert.equal(setting(unit, "Install", "WantedBy"), "sockets.target");
  }
});

/** The syscalls a unit's SystemCallFilter= allows, expanded by systemd-analyze. */
async function allowedSyscalls(filter: string): Promise<Set<string>> {
  const listing = await run(ANALYZE, ["syscall-filter"]);
  assert.equal(listing.code, 0, listing.stderr);
  const groups = new Map<string, string[]>();
  let group: string[] | undefined;
  for (const line of listing.stdout.split("\n")) {
    if (line.startsWith("@")) {
      group = [];
      groups.set(line.split(/\s/)[0]!, group);
    } else if (group && line.trim() && !line.trim().startsWith("#")) {
      group.push(line.trim().split(/\s/)[0]!);
    }
  }
  const allowed = new Set<string>();
  const seen = new Set<string>();
  const add = (entry: string) => {
    if (!entry.startsWith("@")) return void allowed.add(entry);
    if (seen.has(entry)) return;
    seen.add(entry);
    const members = groups.get(entry);
    assert.ok(members, `systemd-analyze knows ${entry}`);
    members.forEach(add);
  };
  // systemd adds @default to every allow-list.
  ["@default", ...filter.split(/\s+/)].forEach(add);
  return allowed;
}

/** The syscalls in an `strace -f` log, from the exec of deno on. */
function syscallsAfterDeno(log: string): Set<string> {
  const lines = log.split("\n");
  const start = lines.findIndex((line) =>
    line.includes(`execve("${Deno.execPath()}"`)
  );
  assert.ok(start >= 0, "strace saw deno start");
  const used = new Set<string>();
  for (const line of lines.slice(start)) {
    const match = line.match(/^\d+\s+([a-z_0-9]+)\(/);
    if (match) used.add(match[1]!);
  }
  return used;
}

const STRACE = "/usr/bin/strace";

/**
 * Stops what strace traces (its child, the command: strace itself would
 * only detach on a signal) and waits for both, bounded.
 */
async function stopTraced(strace: CommandProcess): Promise<number> {
  const ps = await run("ps", ["-o", "pid=", "--ppid", String(strace.pid)]);
  const pid = Number(ps.stdout.trim().split(/\s+/)[0]);
  assert.ok(pid > 0, `strace's child: ${ps.stdout}`);
  Deno.kill(pid, "SIGTERM");
  try {
    return (await strace.wait(30000)).code;
  } catch (error) {
    Deno.kill(pid, "SIGKILL");
    throw error;
  }
}
const straceProblem = await (async () => {
  if (await Deno.stat(STRACE).then(() => false, () => true)) {
    return `${STRACE} is missing (Debian package strace)`;
  }
  const probe = await run(STRACE, ["-f", "-o", "/dev/null", "/bin/true"]);
  return probe.code === 0
    ? undefined
    : `strace cannot trace here: ${probe.stderr.trim()}`;
})();
if (straceProblem !== undefined && !analyzeMissing) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.log(
    `systemd_test: ${straceProblem}: skipping the syscall filter check`,
  );
}

Deno.test({
  name:
    "systemd: every syscall the three commands make under socket activation is in the units' SystemCallFilter",
  ignore: activateMissing || analyzeMissing || straceProblem !== undefined,
  async fn() {
    // The filter of every service (the hardening test checks they agree).
    const filter = setting(
      await readUnit("tcpservd.service"),
      "Service",
      "SystemCallFilter",
    );
    assert.ok(filter !== undefined);
    const allowed = await allowedSyscalls(filter);
    const dir = await Deno.makeTempDir({ prefix: "tcpkit_strace_" });
    const used = new Set<string>();
    // Each scenario: strace follows systemd-socket-activate into the command.
    const scenarios: {
      command: string[];
      client: (port: number) => Promise<void>;
    }[] = [
      {
        command: [...task("tcpservd")],
        client: async (port) => {
          using conn = await session(port);
          assert.equal(await ask(conn, "getstatus"), "GOOD\n");
        },
      },
      {
        command: [...task("tcpservd"), "--echo"],
        client: async (port) => {
          using conn = await connect(port);
          await conn.write(encoder.encode("echo\n"));
          await readUntil(conn, (t) => t === "echo\n");
        },
      },
      {
        command: [...task("takeover"), "server"],
        client: async (port) => {
          using conn = await connect(port);
          await conn.write(new Uint8Array([0, 0, 0, 1]));
          await readUntil(conn, (t) => t.length === 4);
        },
      },
      {
        // The Deno engine on FdListener, and the daemons iotcpd starts.
        command: [...task("iotcpd"), "-n", "1", "-d", "cat"],
        client: async (port) => {
          const conn = await connect(port);
          await conn.write(encoder.encode("line\n"));
          assert.equal(await readToEnd(conn), "line\n");
          conn.close();
        },
      },
      {
        // The master hands the socket to its workers (mkdir, SCM_RIGHTS…).
        command: [...task("tcpservd"), "-w", "2", "--echo"],
        client: async (port) => {
          using conn = await connect(port);
          await conn.write(encoder.encode("workers\n"));
          await readUntil(conn, (t) => t === "workers\n");
        },
      },
      {
        command: [...task("tcpservd"), "--buggy"],
        client: async (port) => {
          using conn = await connect(port);
          await conn.write(encoder.encode("ping\n"));
          await readUntil(conn, (t) => t.endsWith("\n"));
        },
      },
    ];
    try {
      await using notify = await NotifyListener.create();
      for (const [i, { command, client }] of scenarios.entries()) {
        const port = freePort();
        const log = `${dir}/${i}.strace`;
        await using traced = new CommandProcess([
          "-f",
          "-qq",
          "-o",
          log,
          ACTIVATE,
          "-l",
          `127.0.0.1:${port}`,
          "--fdname=traced",
          ...passedEnv(),
          "-E",
          `NOTIFY_SOCKET=${notify.path}`,
          "-E",
          "WATCHDOG_USEC=200000",
          "--",
          Deno.execPath(),
          ...command,
        ], { command: STRACE });
        await traced.waitForLine(/Listening on 127\.0\.0\.1:\d+ as 3/, 30000);
        await client(port);
        await traced.waitForLine(/listening on/, 30000);
        assert.equal(await stopTraced(traced), 0, traced.stderr);
        for (const name of syscallsAfterDeno(await Deno.readTextFile(log))) {
          used.add(name);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    assert.ok(used.has("accept4") && used.has("sendto"), [...used].join(" "));
    const denied = [...used].filter((name) => !allowed.has(name)).sort();
    assert.deepEqual(
      denied,
      [],
      `not in SystemCallFilter=${filter}: ${denied}`,
    );
  },
});
