/**
 * tcpservd --takeover / --takeover-from: a running test server hands its
 * listener, its clients (a half-received line included) and its GOOD/BAD
 * state to a new process, and the handovers chain.
 */
import assert from "node:assert/strict";
import { ask, bytes, readUntil, ServerProcess, session } from "./_helpers.ts";

Deno.test("tcpservd --takeover-from carries the clients, a half line and the state, and chains", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpservd-takeover-" });
  const path = `${dir}/takeover.sock`;
  try {
    await using first = await ServerProcess.start(["--takeover", path]);
    const client = await session(first.port);
    try {
      assert.equal(await ask(client, "setbad"), "Status is BAD\n");
      // Half a command: its first bytes are read by the first process.
      await client.write(bytes("getst"));
      await first.waitForLine(/offering takeover on /);

      await using second = await ServerProcess.start(["--takeover-from", path]);
      assert.equal(second.port, first.port);
      assert.match(
        second.stderr,
        /took over 1 connections from .* \(pid \d+\)/,
      );
      await second.waitForLine(/state is BAD/);
      assert.equal((await first.wait()).code, 0);
      assert.match(first.stderr, /handed over/);

      // The same connection, now served by the second process.
      await client.write(bytes("atus\n"));
      assert.equal(
        (await readUntil(client, (t) => t.endsWith("\n> "))).text,
        "BAD\n> ",
      );
      const fresh = await session(second.port);
      try {
        assert.equal(await ask(fresh, "getstatus"), "BAD\n");
      } finally {
        fresh.close();
      }

      // And once more: handovers chain on the same path.
      await using third = await ServerProcess.start(["--takeover-from", path]);
      assert.equal((await second.wait()).code, 0);
      assert.equal(await ask(client, "setgood"), "Status is GOOD\n");
      assert.match(third.stderr, /took over 1 connections/);
      await client.write(bytes("quit\n"));
      assert.equal(
        (await readUntil(client, (t) => t.endsWith("\n"))).text,
        "QUIT\n",
      );
    } finally {
      client.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcpservd --takeover-from a path nobody offers exits 69", async () => {
  const { CommandProcess, taskArgs } = await import("./_helpers.ts");
  const dir = await Deno.makeTempDir({ prefix: "tcpservd-takeover-" });
  try {
    await using proc = new CommandProcess([
      ...taskArgs("tcpservd"),
      "--takeover-from",
      `${dir}/nothing.sock`,
    ]);
    assert.equal((await proc.wait()).code, 69);
    assert.match(proc.stderr, /takeover from .*nothing\.sock failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcpservd --echo --takeover hands echo clients over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpservd-takeover-" });
  const path = `${dir}/takeover.sock`;
  try {
    await using first = await ServerProcess.start([
      "--echo",
      "--takeover",
      path,
    ]);
    const { connect } = await import("./_helpers.ts");
    const conn = await connect(first.port);
    try {
      await conn.write(bytes("one\n"));
      assert.equal((await readUntil(conn, (t) => t === "one\n")).text, "one\n");
      await using second = await ServerProcess.start([
        "--echo",
        "--takeover-from",
        path,
      ]);
      assert.equal((await first.wait()).code, 0);
      await conn.write(bytes("two\n"));
      assert.equal((await readUntil(conn, (t) => t === "two\n")).text, "two\n");
      assert.match(second.stderr, /took over 1 connections/);
    } finally {
      conn.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
