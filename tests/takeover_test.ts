/**
 * takeover as separate processes over real sockets: the seqnum server hands
 * its listener and live connections down a chain of processes while
 * clients keep talking; rollbacks when the new process dies or stalls;
 * takeovers refused to another uid.
 */
import assert from "node:assert/strict";
import { CommandProcess, connect, readExactly } from "./_helpers.ts";
import {
  CAN_RUN_AS_NOBODY,
  FIXTURE_RUN,
  openNobodyWorkspace,
  openTempDir,
  parseSummary,
  receivedSoFar,
  runAsNobody,
  startClient,
  TAKEOVER_RUN,
  TakeoverProcess,
  waitForReceived,
} from "./_takeover_helpers.ts";

const STALL_FIXTURE = "tests/fixtures/takeover_stall.ts";

function frame(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

async function readFrame(conn: Deno.Conn): Promise<number> {
  const bytes = await readExactly(conn, 4, 20000);
  return new DataView(bytes.buffer).getUint32(0);
}

/** Stops the client (SIGINT) and returns its summary; it must exit 0. */
async function stopClient(
  client: CommandProcess,
): Promise<ReturnType<typeof parseSummary>> {
  client.kill("SIGINT");
  const status = await client.wait(60000);
  assert.equal(
    status.code,
    0,
    `client failed:\n${
      client.stderr.split("\n").filter((l) => !l.startsWith("progress")).join(
        "\n",
      )
    }\n${client.stdout}`,
  );
  assert.doesNotMatch(client.stderr, /discontinuity/);
  return parseSummary(client.stdout);
}

Deno.test("takeover server -h, client -h and a bad flag", async () => {
  for (const command of ["server", "client"]) {
    await using help = new CommandProcess([...TAKEOVER_RUN, command, "-h"]);
    assert.equal((await help.wait()).code, 0);
    assert.match(help.stdout, new RegExp(`^USAGE:\\n  takeover ${command} `));
  }
  await using bad = new CommandProcess([...TAKEOVER_RUN, "server", "--bogus"]);
  assert.equal((await bad.wait()).code, 64);
  assert.match(bad.stderr, /takeover server: Unknown option '--bogus'/);
});

Deno.test("takeover: 1,000 connections and a new one every 20 ms lose nothing across three chained takeovers", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  let server = await TakeoverProcess.offering(path, [
    "--handover-timeout",
    "30000",
  ]);
  const processes: CommandProcess[] = [server];
  try {
    const info = await Deno.lstat(path);
    assert.equal(info.mode! & 0o777, 0o600);
    const client = await startClient([
      "-a",
      "127.0.0.1",
      "-p",
      String(server.port),
      "--conns",
      "1000",
      "--interval",
      "10",
      "--new-conn-interval",
      "20",
      "--timeout",
      "45000",
      "--report",
      "200",
    ], 45000);
    processes.push(client);
    await waitForReceived(client, 1000, 45000);
    for (let round = 1; round <= 3; round++) {
      const old = server;
      const next = new TakeoverProcess([
        ...TAKEOVER_RUN,
        "server",
        "-T",
        path,
        "--handover-timeout",
        "30000",
      ]);
      processes.push(next);
      const took = await next.waitForLine(
        /took over (\d+) connections and 1 listener from /,
        45000,
      );
      assert.ok(Number(took[1]) >= 1000, took[0]);
      const match = await next.waitForLine(/listening on [^\s]+:(\d+)/, 45000);
      next.port = Number(match[1]);
      assert.equal(next.port, old.port);
      assert.equal((await old.wait(45000)).code, 0);
      assert.match(
        old.stderr,
        /handed over 1 listener and \d+ connections \(\d+ bytes read but not answered, \d+ not yet sent\) to pid \d+ \(paused [\d.]+ ms\)/,
      );
      server = next;
      // The new process serves: the clients' echoes keep coming.
      await waitForReceived(client, receivedSoFar(client) + 1000, 45000);
    }
    const summary = await stopClient(client);
    assert.equal(summary.conns, 1000);
    assert.equal(summary.sent, summary.received);
    assert.ok(summary.received > 4000);
    assert.ok(summary.newConns > 0);
    assert.equal(summary.newConnsFailed, 0);
    server.kill("SIGTERM");
    assert.equal((await server.wait()).code, 0);
  } finally {
    for (const process of processes) await process[Symbol.asyncDispose]();
  }
});

Deno.test("takeover moves a half-received frame to the new process", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  await using old = await TakeoverProcess.offering(path);
  const conn = await connect(old.port);
  try {
    await conn.write(frame(1));
    assert.equal(await readFrame(conn), 1);
    // Two bytes of four: the old process reads them and cannot answer yet.
    await conn.write(frame(0xa1b2c3d4).subarray(0, 2));
    // epoll reports ready sockets in the order they became ready: once a
    // frame sent later on another connection is echoed, the two bytes have
    // been read.
    const probe = await connect(old.port);
    await probe.write(frame(5));
    assert.equal(await readFrame(probe), 5);
    probe.close();
    await using next = new TakeoverProcess([
      ...TAKEOVER_RUN,
      "server",
      "-T",
      path,
    ]);
    await next.waitForLine(/took over \d+ connections/);
    assert.equal((await old.wait()).code, 0);
    assert.match(
      old.stderr,
      /\(2 bytes read but not answered, 0 not yet sent\)/,
    );
    await conn.write(frame(0xa1b2c3d4).subarray(2));
    assert.equal(await readFrame(conn), 0xa1b2c3d4);
    await conn.write(frame(2));
    assert.equal(await readFrame(conn), 2);
  } finally {
    conn.close();
  }
});

for (
  const [stage, when] of [
    ["ready", "before it receives the fds"],
    ["received", "after it received the fds"],
  ] as const
) {
  Deno.test(`takeover rolls back when the new process is killed ${when}`, async () => {
    await using dir = await openTempDir();
    const path = `${dir.path}/takeover.sock`;
    await using server = await TakeoverProcess.offering(path, [
      "--handover-timeout",
      "30000",
    ]);
    await using client = await startClient([
      "-a",
      "127.0.0.1",
      "-p",
      String(server.port),
      "--conns",
      "50",
      "--interval",
      "10",
      "--new-conn-interval",
      "20",
      "--timeout",
      "45000",
      "--report",
      "100",
    ]);
    await waitForReceived(client, 100);
    const mark = server.lines.length;
    await using stall = new CommandProcess([
      ...FIXTURE_RUN,
      STALL_FIXTURE,
      path,
      stage,
    ]);
    await stall.waitForLine(
      stage === "ready"
        ? /stalling after ready/
        : /received 1 listeners and \d+ connections/,
    );
    await server.waitForLine(/handing over to pid/, 15000, mark);
    stall.kill("SIGKILL");
    await stall.wait();
    await server.waitForLine(
      /takeover by pid \d+ failed: .*; rolled back: serving \d+ connections and accepting again/,
      30000,
      mark,
    );
    // The old process serves everything again; nothing was lost.
    await waitForReceived(client, receivedSoFar(client) + 200);
    const summary = await stopClient(client);
    assert.equal(summary.sent, summary.received);
    assert.equal(summary.newConnsFailed, 0);
    assert.ok(summary.newConns > 0);
    assert.equal(server.exited, undefined, "the old process still runs");
  });
}

Deno.test("takeover rolls back when the new process does not acknowledge within --handover-timeout", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  await using server = await TakeoverProcess.offering(path, [
    "--handover-timeout",
    "1500",
  ]);
  await using client = await startClient([
    "-a",
    "127.0.0.1",
    "-p",
    String(server.port),
    "--conns",
    "20",
    "--interval",
    "10",
    "--timeout",
    "45000",
    "--report",
    "100",
  ]);
  const mark = server.lines.length;
  await using stall = new CommandProcess([
    ...FIXTURE_RUN,
    STALL_FIXTURE,
    path,
    "received",
  ]);
  await server.waitForLine(
    /did not acknowledge the handover within 1500 ms; rolled back/,
    30000,
    mark,
  );
  await waitForReceived(client, receivedSoFar(client) + 100);
  // The offer is open again: a real new process takes over.
  await using next = new TakeoverProcess([
    ...TAKEOVER_RUN,
    "server",
    "-T",
    path,
  ]);
  await next.waitForLine(/took over 20 connections/, 30000);
  assert.equal((await server.wait()).code, 0);
  await waitForReceived(client, receivedSoFar(client) + 100);
  const summary = await stopClient(client);
  assert.equal(summary.sent, summary.received);
  stall.kill("SIGKILL");
});

/** The server still runs and echoes a seqnum frame. */
async function assertStillServes(
  server: TakeoverProcess,
  seqnum: number,
): Promise<void> {
  const conn = await connect(server.port);
  try {
    await conn.write(frame(seqnum));
    assert.equal(await readFrame(conn), seqnum);
  } finally {
    conn.close();
  }
  assert.equal(server.exited, undefined);
}

Deno.test({
  name:
    "takeover refuses another uid: nobody cannot even connect to the 0600 socket",
  ignore: !CAN_RUN_AS_NOBODY,
  async fn() {
    await using dir = await openTempDir();
    // A copy nobody can read, wherever the clone lives.
    await using workspace = await openNobodyWorkspace(["takeover/main.ts"]);
    const path = `${dir.path}/takeover.sock`;
    await using server = await TakeoverProcess.offering(path);
    const attempt = await runAsNobody(
      [...TAKEOVER_RUN, "server", "-T", path],
      workspace,
    );
    assert.equal(attempt.code, 77, attempt.stderr);
    assert.match(
      attempt.stderr,
      /takeover refused: Permission denied on .*takeover\.sock: the takeover socket is owner-only \(mode 0600\)/,
    );
    // The old process never noticed, and serves on.
    await assertStillServes(server, 42);
  },
});

Deno.test({
  name:
    "takeover refuses another uid that reaches the socket (SO_PEERCRED) and logs the refusal",
  ignore: !CAN_RUN_AS_NOBODY,
  async fn() {
    await using dir = await openTempDir();
    // A copy nobody can read, wherever the clone lives.
    await using workspace = await openNobodyWorkspace(["takeover/main.ts"]);
    const path = `${dir.path}/takeover.sock`;
    await using server = await TakeoverProcess.offering(path);
    // Loosen the file's mode as a careless admin might: now nobody reaches
    // the listener, and the uid check must refuse.
    await Deno.chmod(path, 0o666);
    const mark = server.lines.length;
    const attempt = await runAsNobody(
      [...TAKEOVER_RUN, "server", "-T", path],
      workspace,
    );
    assert.equal(attempt.code, 77, attempt.stderr);
    assert.match(
      attempt.stderr,
      /takeover refused: The process at .* refused the takeover: uid 65534 may not take over a process of uid 0/,
    );
    await server.waitForLine(
      /refused a takeover on .*takeover\.sock from pid \d+ uid 65534: uid 65534 may not take over/,
      15000,
      mark,
    );
    await assertStillServes(server, 7);
  },
});
