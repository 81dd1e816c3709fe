/**
 * Fault injection seen from the client side, over real sockets: one test
 * per fault, the seeded probability, the run-time commands, and the
 * buggy-tcpserver compatibility mode.
 */
import assert from "node:assert/strict";
import {
  ask,
  bytes,
  connect,
  readToEnd,
  readUntil,
  ServerProcess,
  session,
  socketsInState,
  within,
} from "./_helpers.ts";

/** Resolves to whether nothing arrives on `conn` for `ms` (a bounded negative check). */
async function silentFor(conn: Deno.TcpConn, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<boolean>((resolve) =>
    timer = setTimeout(() => resolve(true), ms)
  );
  const read = conn.read(new Uint8Array(64)).then(() => false, () => false);
  try {
    return await Promise.race([quiet, read]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("fault delay: every reply comes late by the delay", async () => {
  await using server = await ServerProcess.start(["--fault", "delay ms=300"]);
  const started = performance.now();
  const conn = await session(server.port);
  try {
    assert.ok(performance.now() - started >= 300, "the prompt is delayed");
    const asked = performance.now();
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
    const elapsed = performance.now() - asked;
    assert.ok(elapsed >= 300, `reply after ${elapsed.toFixed(0)} ms`);
  } finally {
    conn.close();
  }
});

Deno.test("fault reset: the client reads ECONNRESET", async () => {
  await using server = await ServerProcess.start(["--fault", "reset"]);
  // The RST may come before Deno's connect() returns, or on the first read.
  await assert.rejects(
    (async () => {
      const conn = await connect(server.port);
      try {
        await readToEnd(conn);
      } finally {
        conn.close();
      }
    })(),
    Deno.errors.ConnectionReset,
  );
  await server.waitForLine(/fault reset .* applied to connection 1/);
});

Deno.test("fault reset after=N: N bytes, then ECONNRESET", async () => {
  await using server = await ServerProcess.start([
    "--echo",
    "--fault",
    "reset after=5",
  ]);
  const conn = await connect(server.port);
  try {
    await conn.write(bytes("0123456789"));
    let got = "";
    await assert.rejects(
      within(
        10000,
        "the reset",
        (async () => {
          const buf = new Uint8Array(64);
          while (true) {
            const n = await conn.read(buf);
            if (n === null) throw new Error(`clean EOF after ${got}`);
            got += new TextDecoder().decode(buf.subarray(0, n));
          }
        })(),
      ),
      Deno.errors.ConnectionReset,
    );
    assert.ok("01234".startsWith(got), `got ${got}`);
  } finally {
    conn.close();
  }
});

Deno.test("fault close: EOF without a reply", async () => {
  await using server = await ServerProcess.start(["--fault", "close"]);
  const conn = await connect(server.port);
  try {
    assert.equal(await readToEnd(conn), "");
  } finally {
    conn.close();
  }
});

Deno.test("fault close after=N: exactly N bytes, then EOF", async () => {
  await using server = await ServerProcess.start(["--fault", "close after=7"]);
  const conn = await session(server.port);
  try {
    await conn.write(bytes("getstatus\n"));
    assert.equal(await readToEnd(conn), "GOOD\n");
  } finally {
    conn.close();
  }
});

Deno.test("fault leak: sockets the peer closed pile up in CLOSE_WAIT", async () => {
  await using server = await ServerProcess.start(["--fault", "leak"]);
  for (let i = 0; i < 5; i++) {
    const conn = await session(server.port);
    conn.close();
  }
  for (let i = 1; i <= 5; i++) {
    await server.waitForLine(
      new RegExp(`connection ${i} from .*leaking our end \\(CLOSE_WAIT\\)`),
    );
  }
  assert.equal(await socketsInState(server.port, "close-wait"), 5);
  // The server itself is fine.
  const conn = await session(server.port);
  try {
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
  } finally {
    conn.close();
  }
});

Deno.test("fault stall-accept: connects time out once the backlog is full", async () => {
  await using server = await ServerProcess.start([
    "--fault",
    "stall-accept",
    "--connection-backlog",
    "1",
  ]);
  const conns: Deno.TcpConn[] = [];
  let timedOut = false;
  try {
    for (let i = 0; i < 8 && !timedOut; i++) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 1000);
      try {
        conns.push(
          await Deno.connect({
            hostname: "127.0.0.1",
            port: server.port,
            signal: abort.signal,
          }),
        );
      } catch (error) {
        assert.ok(
          abort.signal.aborted,
          `connect failed without a timeout: ${error}`,
        );
        timedOut = true;
      } finally {
        clearTimeout(timer);
      }
    }
    assert.ok(timedOut, `all of ${conns.length} connects succeeded`);
    assert.ok(conns.length >= 1, "the backlog took some first");
    // Those in the backlog were never accepted: no prompt.
    assert.equal(await silentFor(conns[0]!, 300), true);
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("fault zero-window: a writer blocks", async () => {
  await using server = await ServerProcess.start([
    "--echo",
    "--fault",
    "zero-window",
  ]);
  const conn = await connect(server.port);
  try {
    const chunk = new Uint8Array(1 << 20);
    let written = 0;
    let blocked = false;
    // At most 256 MB; the kernel's buffers hold a few MB, then writes stop.
    for (let i = 0; i < 256 && !blocked; i++) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stuck = new Promise<"stuck">((r) =>
        timer = setTimeout(() => r("stuck"), 1000)
      );
      const n = await Promise.race([conn.write(chunk), stuck]);
      clearTimeout(timer);
      if (n === "stuck") blocked = true;
      else written += n;
    }
    assert.ok(blocked, `wrote ${written} bytes without blocking`);
    assert.ok(written < 64 << 20, `wrote ${written} bytes`);
  } finally {
    conn.close();
  }
});

Deno.test("fault hang: accepted, never a reply", async () => {
  await using server = await ServerProcess.start(["--fault", "hang"]);
  const conn = await connect(server.port);
  try {
    await conn.write(bytes("getstatus\n"));
    assert.equal(await silentFor(conn, 500), true);
  } finally {
    conn.close();
  }
});

Deno.test("fault halfclose: EOF at once, but the server still reads", async () => {
  await using server = await ServerProcess.start(["--fault", "halfclose"]);
  const conn = await connect(server.port);
  try {
    assert.equal(await readToEnd(conn), "");
    // Our writes still go through: the server keeps its read side open.
    for (let i = 0; i < 10; i++) {
      assert.equal(await conn.write(bytes("getstatus\n")), 10);
    }
  } finally {
    conn.close();
  }
});

Deno.test("fault drip: a reply arrives a few bytes at a time", async () => {
  await using server = await ServerProcess.start([
    "--echo",
    "--fault",
    "drip bytes=2 ms=50",
  ]);
  const conn = await connect(server.port);
  try {
    const started = performance.now();
    await conn.write(bytes("abcdefgh"));
    const { text } = await readUntil(conn, (t) => t.length >= 8);
    assert.equal(text, "abcdefgh");
    // Four drips of two bytes, 50 ms apart.
    assert.ok(performance.now() - started >= 150);
  } finally {
    conn.close();
  }
});

Deno.test("fault garbage: random bytes, then EOF", async () => {
  await using server = await ServerProcess.start([
    "--fault",
    "garbage bytes=100 seed=1",
  ]);
  const read = async () => {
    const conn = await connect(server.port);
    try {
      const buf = new Uint8Array(256);
      let got = new Uint8Array(0);
      return await within(
        10000,
        "the garbage and EOF",
        (async () => {
          while (true) {
            const n = await conn.read(buf);
            if (n === null) return got;
            got = new Uint8Array([...got, ...buf.subarray(0, n)]);
          }
        })(),
      );
    } finally {
      conn.close();
    }
  };
  const first = await read();
  assert.equal(first.length, 100);
  assert.notDeepEqual(first.subarray(0, 2), bytes("> "));
});

Deno.test("fault crash code=3: the server exits with 3", async () => {
  await using server = await ServerProcess.start(["--fault", "crash code=3"]);
  const conn = await connect(server.port);
  try {
    assert.equal((await server.wait()).code, 3);
  } finally {
    conn.close();
  }
});

Deno.test("fault p with a seed picks the same connections twice", async () => {
  const pattern = async () => {
    await using server = await ServerProcess.start([
      "--fault",
      "reset p=0.5 seed=42",
    ]);
    const hits: boolean[] = [];
    for (let i = 0; i < 20; i++) {
      let conn: Deno.TcpConn;
      try {
        conn = await connect(server.port);
      } catch (error) {
        // The RST can beat Deno's connect() to the finish.
        assert.ok(error instanceof Deno.errors.ConnectionReset, String(error));
        hits.push(true);
        continue;
      }
      try {
        const { text, eof } = await readUntil(conn, (t) => t === "> ");
        hits.push(false);
        assert.equal(text, "> ");
        assert.equal(eof, false);
      } catch (error) {
        assert.ok(error instanceof Deno.errors.ConnectionReset, String(error));
        hits.push(true);
      } finally {
        conn.close();
      }
    }
    return hits;
  };
  const first = await pattern();
  const second = await pattern();
  assert.deepEqual(second, first);
  assert.ok(first.includes(true) && first.includes(false), `pattern ${first}`);
});

Deno.test("fault commands: set, list and clear at run time", async () => {
  await using server = await ServerProcess.start();
  const admin = await session(server.port);
  try {
    assert.equal(await ask(admin, "fault list"), "no faults\n");
    assert.match(
      await ask(admin, "fault delay ms=250 seed=9"),
      /^OK fault 1: delay ms=250 jitter=0 p=1 seed=9 on=new seed=9\n$/,
    );
    assert.match(await ask(admin, "fault list"), /^fault 1: delay ms=250 /);
    // The admin's own connection is not affected; a new one is.
    const started = performance.now();
    const slow = await session(server.port);
    slow.close();
    assert.ok(performance.now() - started >= 250);
    assert.match(
      await ask(admin, "fault bogus"),
      /^ERR fault: Unknown fault "bogus"/,
    );
    assert.match(
      await ask(admin, "fault delay ms=-5"),
      /^ERR fault: Invalid ms=-5/,
    );
    assert.equal(await ask(admin, "fault clear"), "OK 1 faults cleared\n");
    assert.equal(await ask(admin, "fault list"), "no faults\n");
    const fast = await session(server.port);
    fast.close();
  } finally {
    admin.close();
  }
});

Deno.test("fault on=current resets the connection that asked", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    await conn.write(bytes("fault reset on=current\n"));
    await assert.rejects(readToEnd(conn), Deno.errors.ConnectionReset);
  } finally {
    conn.close();
  }
  const other = await session(server.port);
  try {
    assert.equal(await ask(other, "getstatus"), "GOOD\n");
  } finally {
    other.close();
  }
});

Deno.test("fault stall-accept at run time: new clients wait, fault clear lets them in", async () => {
  await using server = await ServerProcess.start();
  const admin = await session(server.port);
  try {
    assert.match(
      await ask(admin, "fault stall-accept"),
      /^OK fault 1: stall-accept/,
    );
    const waiting = await connect(server.port);
    try {
      let prompted = false;
      const prompt = readUntil(waiting, (t) => t === "> ").then((r) => {
        prompted = true;
        return r;
      });
      // Still no prompt after a round trip on another connection and 300 ms.
      assert.equal(await ask(admin, "getstatus"), "GOOD\n");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(prompted, false, "no prompt while stalled");
      assert.equal(await ask(admin, "fault clear"), "OK 1 faults cleared\n");
      assert.equal((await prompt).text, "> ");
    } finally {
      waiting.close();
    }
  } finally {
    admin.close();
  }
});

Deno.test("faults are logged as JSON lines with --log-format json", async () => {
  await using server = await ServerProcess.start([
    "--log-format",
    "json",
    "--fault",
    "close",
  ]);
  const conn = await connect(server.port);
  try {
    assert.equal(await readToEnd(conn), "");
  } finally {
    conn.close();
  }
  const line = await server.waitForLine(
    /"message":"fault close .*applied to connection 1/,
  );
  const record = JSON.parse(line.input!);
  assert.equal(record.level, "INFO");
  assert.deepEqual(record.logger, "tcpkit.fault");
});

Deno.test("tcpservd rejects a bad --fault with exit 64", async () => {
  const { CommandProcess, taskArgs } = await import("./_helpers.ts");
  await using proc = new CommandProcess([
    ...taskArgs("tcpservd"),
    "--fault",
    "explode",
  ]);
  assert.equal((await proc.wait()).code, 64);
  assert.match(
    proc.stderr,
    /Invalid --fault "explode": Unknown fault "explode"/,
  );
});

Deno.test("--buggy answers the original's commands", async () => {
  await using server = await ServerProcess.start(["--buggy"]);
  const conn = await connect(server.port);
  try {
    await conn.write(bytes("ping\n"));
    assert.equal((await readUntil(conn, (t) => t.length >= 5)).text, "pong\n");
    await conn.write(bytes("ping!"));
    assert.equal((await readUntil(conn, (t) => t.length >= 5)).text, "pong!");
    const started = performance.now();
    await conn.write(bytes("busy1"));
    assert.equal((await readUntil(conn, (t) => t.endsWith("\n"))).text, "1\n");
    assert.ok(performance.now() - started >= 1000);
    await conn.write(bytes("busy-3"));
    assert.equal((await readUntil(conn, (t) => t.endsWith("\n"))).text, "-3\n");
    await conn.write(bytes("fork\n"));
    assert.equal((await readUntil(conn, (t) => t.endsWith("\n"))).text, "ok\n");
    // close: with the default linger 0, a reset.
    await conn.write(bytes("close\n"));
    await assert.rejects(readToEnd(conn), Deno.errors.ConnectionReset);
  } finally {
    conn.close();
  }
});

Deno.test("--buggy big: 4096 a's come back as two 4096-byte blocks starting bog (SYN)", async () => {
  await using server = await ServerProcess.start(["--buggy"]);
  const conn = await connect(server.port);
  try {
    await conn.write(new Uint8Array(4096).fill(0x61));
    const buf = new Uint8Array(8192);
    let got = 0;
    await within(
      10000,
      "8192 bytes",
      (async () => {
        while (got < 8192) {
          const n = await conn.read(buf.subarray(got));
          if (n === null) throw new Error(`EOF after ${got}`);
          got += n;
        }
      })(),
    );
    const head = new TextEncoder().encode("bog (SYN)\0");
    assert.deepEqual(buf.subarray(0, 10), head);
    assert.deepEqual(buf.subarray(4096, 4106), head);
    assert.ok(buf.subarray(10, 4096).every((b) => b === 0x61));
  } finally {
    conn.close();
  }
});

Deno.test("--buggy crashes (resets) on a 1-byte command and an 8-byte ping", async () => {
  await using server = await ServerProcess.start(["--buggy"]);
  for (const input of ["\n", "pingpong"]) {
    const conn = await connect(server.port);
    try {
      await conn.write(bytes(input));
      await assert.rejects(readToEnd(conn), Deno.errors.ConnectionReset);
    } finally {
      conn.close();
    }
  }
});

Deno.test("--buggy --linger -1 closes with a FIN; -L 1 leaks CLOSE_WAIT", async () => {
  {
    await using server = await ServerProcess.start([
      "--buggy",
      "--linger",
      "-1",
    ]);
    const conn = await connect(server.port);
    try {
      await conn.write(bytes("close"));
      assert.equal(await readToEnd(conn), "");
    } finally {
      conn.close();
    }
  }
  {
    await using server = await ServerProcess.start(["--buggy", "-L", "1"]);
    const conn = await connect(server.port);
    try {
      await conn.write(bytes("close"));
      // No FIN comes: the server keeps its socket.
      assert.equal(await silentFor(conn, 300), true);
    } finally {
      conn.close();
    }
    await server.waitForLine(/close 0/);
  }
});
