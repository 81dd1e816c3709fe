/**
 * tcpservd --takeover / --takeover-from: a running test server hands its
 * listener, its clients (a half-received line included) and its GOOD/BAD
 * state to a new process, and the handovers chain.
 */
import assert from "node:assert/strict";
import {
  ask,
  bytes,
  readUntil,
  ServerProcess,
  session,
  within,
} from "./_helpers.ts";

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

/** The resident memory of a process in bytes, from /proc (through `cat`: the test task has no --allow-all). */
async function residentBytes(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] })
    .output();
  const match = new TextDecoder().decode(out.stdout).match(
    /^VmRSS:\s+(\d+) kB$/m,
  );
  if (!out.success || !match) throw new Error(`No VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

Deno.test("tcpservd --takeover: a client that pipelines lines and never reads holds the server's unsent replies at 4 MiB, then gets every reply in order", async () => {
  const { connect } = await import("./_helpers.ts");
  const dir = await Deno.makeTempDir({ prefix: "tcpservd-takeover-" });
  // --framing original pads each reply to 8192 bytes: 20,000 short lines
  // ask for 164 MB of replies.
  const lines = 20000;
  const frame = 8192 + 2; // the padded reply, then the prompt
  const maxUnsent = 4 << 20;
  const markerEvery = 100;
  const lineOf = (i: number) => i % markerEvery === 0 ? `m${i}\n` : "\n";
  try {
    await using server = await ServerProcess.start([
      "--takeover",
      `${dir}/takeover.sock`,
      "--framing",
      "original",
      "--debug",
    ]);
    const conn = await connect(server.port);
    try {
      assert.equal((await readUntil(conn, (t) => t.length >= 2)).text, "> ");
      const rssBefore = await residentBytes(server.pid);
      await conn.write(
        bytes(Array.from({ length: lines }, (_, i) => lineOf(i)).join("")),
      );
      // Logged once the server's call with the lines returned.
      const paused = await server.waitForLine(
        /connection \d+: (\d+) bytes not yet sent; reading paused/,
      );
      const unsent = Number(paused[1]);
      assert.ok(unsent <= maxUnsent + frame, `${unsent} bytes unsent`);
      const grown = (await residentBytes(server.pid)) - rssBefore;
      assert.ok(grown < 64 << 20, `RSS grew by ${grown} bytes`);

      // Now it reads: every reply comes, in order, with nothing more sent.
      const buffer = new Uint8Array(1 << 16);
      let at = 0; // bytes into the reply stream
      const total = lines * frame;
      const expected = (offset: number) => {
        const inFrame = offset % frame;
        const text = lineOf(Math.floor(offset / frame));
        if (inFrame < text.length) return text.charCodeAt(inFrame);
        if (inFrame < frame - 2) return 0; // the padding
        return "> ".charCodeAt(inFrame - (frame - 2));
      };
      const check = (offset: number, byte: number) => {
        if (byte !== expected(offset)) {
          throw new Error(
            `reply ${Math.floor(offset / frame)}, byte ${
              offset % frame
            }: got ${byte}, expected ${expected(offset)}`,
          );
        }
      };
      await within(
        60000,
        "every reply",
        (async () => {
          while (at < total) {
            const n = await conn.read(buffer);
            if (n === null) {
              throw new Error(`EOF after ${at} of ${total} bytes`);
            }
            if (at + n > total) throw new Error("More bytes than replies");
            for (let i = 0; i < n; i++) check(at + i, buffer[i]!);
            at += n;
          }
        })(),
      );
    } finally {
      conn.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcpservd --takeover --max-conns N: the next connection waits in the queue until one closes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_takeover_limit_" });
  try {
    await using server = await ServerProcess.start([
      "--takeover",
      `${dir}/t.sock`,
      "--max-conns",
      "2",
    ]);
    const first = await session(server.port);
    const second = await session(server.port);
    // Connected (the kernel's queue), but not accepted: no prompt yet.
    const third = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    let firstOpen = true;
    try {
      const prompt = readUntil(third, (t) => t === "> ");
      const early = await Promise.race([
        prompt.then(() => "served past --max-conns"),
        new Promise((resolve) => setTimeout(() => resolve("waiting"), 500)),
      ]);
      assert.equal(early, "waiting");
      first.close();
      firstOpen = false;
      assert.equal((await prompt).text, "> ");
      assert.equal(await ask(third, "getstatus"), "GOOD\n");
    } finally {
      third.close();
      second.close();
      if (firstOpen) first.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
