/**
 * What `takeover server -T` trusts, as separate processes over real
 * sockets: a forged old process — of another user in a shared directory,
 * or of ours sending fds that are not what it describes — is refused
 * before anything it sent is used, and the taker exits instead of hanging;
 * a blocking listener it sends is made non-blocking.
 */
import assert from "node:assert/strict";
import { CommandProcess, connect, readExactly } from "./_helpers.ts";
import {
  CAN_RUN_AS_NOBODY,
  FIXTURE_RUN,
  nobodyCommand,
  openNobodyWorkspace,
  openSharedTempDir,
  openTempDir,
  TAKEOVER_RUN,
  TakeoverProcess,
} from "./_takeover_helpers.ts";

const FORGE_FIXTURE = "tests/fixtures/takeover_forge.ts";

/** How long a refused taker may take to exit: it must not hang. */
const REFUSAL_MS = 15000;

async function echo(port: number, seqnum: number): Promise<number> {
  const conn = await connect(port);
  try {
    const frame = new Uint8Array(4);
    new DataView(frame.buffer).setUint32(0, seqnum);
    await conn.write(frame);
    const reply = await readExactly(conn, 4, 5000);
    return new DataView(reply.buffer).getUint32(0);
  } finally {
    conn.close();
  }
}

Deno.test({
  name:
    "takeover -T refuses an old process of another uid (nobody, in a 1777 directory) before saying a word, and exits 77",
  ignore: !CAN_RUN_AS_NOBODY,
  async fn() {
    await using workspace = await openNobodyWorkspace([FORGE_FIXTURE]);
    await using dir = await openSharedTempDir();
    const path = `${dir.path}/takeover.sock`;
    const { command, args } = nobodyCommand(workspace, [
      ...FIXTURE_RUN,
      FORGE_FIXTURE,
      path,
      "blocking-listener",
    ]);
    await using forger = new CommandProcess(args, {
      command,
      cwd: workspace.root,
    });
    await forger.waitForLine(/offering blocking-listener .* uid 65534$/);
    // Root, as in the report: it used to take the forged listener and hang
    // in accept4().
    await using taker = new CommandProcess([
      ...TAKEOVER_RUN,
      "server",
      "-T",
      path,
    ]);
    const status = await taker.wait(REFUSAL_MS);
    assert.equal(status.code, 77, taker.stderr);
    assert.match(
      taker.stderr,
      /takeover refused: The process at .*takeover\.sock \(pid \d+\) runs as uid 65534: only uid 0 or root may hand a server over to this process/,
    );
    assert.doesNotMatch(taker.stderr, /took over|listening on/);
    // The taker left without a hello: nothing of the forger's was used.
    await forger.waitForLine(/^exchange ended: /);
    assert.doesNotMatch(forger.stderr, /got hello/);
  },
});

for (
  const [kind, what] of [
    ["udp", "a UDP socket \\(IPv4\\)"],
    ["pipe", "not a socket"],
    ["unlistening-tcp", "a TCP socket \\(IPv4\\)"],
  ] as const
) {
  Deno.test(
    `takeover -T refuses an fd described as a listener that is ${
      what.replaceAll("\\", "")
    } (${kind}), and exits 77`,
    async () => {
      await using dir = await openTempDir();
      const path = `${dir.path}/takeover.sock`;
      // The pipe forger hands over its stdin: a pipe.
      await using forger = new CommandProcess(
        [...FIXTURE_RUN, FORGE_FIXTURE, path, kind],
        { stdin: kind === "pipe" ? "piped" : "null" },
      );
      await forger.waitForLine(new RegExp(`offering ${kind} `));
      await using taker = new CommandProcess([
        ...TAKEOVER_RUN,
        "server",
        "-T",
        path,
      ]);
      const status = await taker.wait(REFUSAL_MS);
      assert.equal(status.code, 77, taker.stderr);
      assert.match(
        taker.stderr,
        new RegExp(
          `takeover refused: The process at .*takeover\\.sock sent fd \\d+ as a listening TCP socket, but it is ${what}$`,
          "m",
        ),
      );
      assert.doesNotMatch(taker.stderr, /took over|listening on/);
      // Refused before the ack: the forger never heard one.
      await forger.waitForLine(/^exchange ended: /);
      assert.match(forger.stderr, /sent the forged batch/);
      assert.doesNotMatch(forger.stderr, /got ack/);
    },
  );
}

Deno.test("takeover -T makes a blocking listener non-blocking itself, and serves one client after another", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  await using forger = new CommandProcess([
    ...FIXTURE_RUN,
    FORGE_FIXTURE,
    path,
    "blocking-listener",
  ]);
  const offered = await forger.waitForLine(
    /offering blocking-listener \(port (\d+)\)/,
  );
  const port = Number(offered[1]);
  await using taker = new TakeoverProcess([
    ...TAKEOVER_RUN,
    "server",
    "-T",
    path,
  ]);
  // Our own uid: trusted, and its made-up state taken as it is.
  await taker.waitForLine(
    /took over 0 connections and 1 listener from .*; 31337 seqnums echoed before/,
  );
  await taker.waitForLine(new RegExp(`listening on 127\\.0\\.0\\.1:${port}$`));
  await forger.waitForLine(/^committed$/);
  // A blocking listener would hang accept4() once the queue is empty,
  // after the first client: the second would never be served.
  assert.equal(await echo(port, 1), 1);
  assert.equal(await echo(port, 2), 2);
  assert.equal(taker.exited, undefined, "the taker still serves");
});
