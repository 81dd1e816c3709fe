/**
 * tcpservd as a separate process, driven over real sockets.
 */
import assert from "node:assert/strict";
import {
  ask,
  bytes,
  connect,
  fdCountSettled,
  readToEnd,
  readUntil,
  runTcpcli,
  ServerProcess,
  session,
  within,
} from "./_helpers.ts";

Deno.test("tcpservd plays the README transcript", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    assert.match(await ask(conn, "version"), /^\d+\.\d+\.\d+\n$/);
    assert.match(await ask(conn, "hostname"), /^hostname:\[[^\]]+\]\n$/);
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
    assert.equal(await ask(conn, "setbad"), "Status is BAD\n");
    assert.equal(await ask(conn, "getstatus"), "BAD\n");
    assert.equal(await ask(conn, "setgood"), "Status is GOOD\n");
    assert.equal(
      await ask(conn, "startloop 1"),
      "START_LOOP_WAIT\nEND_LOOP: 1 seconds\n",
    );
    await conn.write(bytes("quit\n"));
    assert.equal(await readToEnd(conn), "QUIT\n");
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd reports its version as deno.json says", async () => {
  const { default: config } = await import("../deno.json", {
    with: { type: "json" },
  });
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    assert.equal(await ask(conn, "version"), `${config.version}\n`);
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd commands are case-insensitive and accept CRLF", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    await conn.write(bytes("GetStatus\r\n"));
    assert.equal(
      (await readUntil(conn, (t) => t.endsWith("\n> "))).text,
      "GOOD\n> ",
    );
    assert.equal(await ask(conn, "  SETBAD  "), "Status is BAD\n");
    const help = await ask(conn, "HELP");
    assert.match(help, /^Wellcome to tcpservd .* online help\n/);
    for (
      const word of [
        "getstatus",
        "version",
        "hostname",
        "setbad",
        "setgood",
        "startloop",
        "quit",
      ]
    ) {
      assert.match(help, new RegExp(`^${word} +:`, "m"));
    }
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd echoes unknown lines byte for byte, NUL and invalid UTF-8 included", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    const line = new Uint8Array([
      0x61,
      0x00,
      0x62,
      0xff,
      0xfe,
      0x00,
      0x0d,
      0x0a,
    ]);
    await conn.write(line);
    const got = new Uint8Array(64);
    let n = 0;
    await within(
      5000,
      "echo",
      (async () => {
        while (n < line.length + 2) {
          const r = await conn.read(got.subarray(n));
          if (r === null) throw new Error("EOF");
          n += r;
        }
      })(),
    );
    assert.deepEqual(got.subarray(0, n), new Uint8Array([...line, 0x3e, 0x20]));
    assert.equal(await ask(conn, "getstatus"), "GOOD\n", "the session goes on");
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd -b answers quit with BAD while BAD, QUIT while GOOD", async () => {
  await using server = await ServerProcess.start(["-b"]);
  const good = await session(server.port);
  try {
    await good.write(bytes("quit\n"));
    assert.equal(await readToEnd(good), "QUIT\n");
  } finally {
    good.close();
  }
  const bad = await session(server.port);
  try {
    assert.equal(await ask(bad, "setbad"), "Status is BAD\n");
    await bad.write(bytes("quit\n"));
    assert.equal(await readToEnd(bad), "BAD\n");
  } finally {
    bad.close();
  }
});

Deno.test("tcpservd --initial-state bad starts BAD", async () => {
  await using server = await ServerProcess.start(["--initial-state", "bad"]);
  const result = await runTcpcli(["127.0.0.1", String(server.port)]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
});

Deno.test("tcpservd shares one state between 50 clients at once", async () => {
  await using server = await ServerProcess.start();
  const conns = await Promise.all(
    Array.from({ length: 50 }, () => session(server.port)),
  );
  try {
    assert.deepEqual(
      await Promise.all(conns.map((c) => ask(c, "getstatus"))),
      Array(50).fill("GOOD\n"),
    );
    assert.equal(await ask(conns[17]!, "setbad"), "Status is BAD\n");
    assert.deepEqual(
      await Promise.all(conns.map((c) => ask(c, "getstatus"))),
      Array(50).fill("BAD\n"),
    );
    assert.equal(await ask(conns[42]!, "setgood"), "Status is GOOD\n");
    assert.deepEqual(
      await Promise.all(conns.map((c) => ask(c, "getstatus"))),
      Array(50).fill("GOOD\n"),
    );
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("tcpservd startloop does not block another client's getstatus", async () => {
  await using server = await ServerProcess.start();
  const looper = await session(server.port);
  const other = await session(server.port);
  try {
    await looper.write(bytes("startloop 3\n"));
    const started = await readUntil(
      looper,
      (t) => t.includes("START_LOOP_WAIT\n"),
    );
    assert.equal(started.text, "START_LOOP_WAIT\n");
    // Answered while the loop burns: the loop's END_LOOP has not come yet.
    assert.equal(await ask(other, "getstatus"), "GOOD\n");
    const ended = await readUntil(looper, (t) => t.endsWith("\n> "), 15000);
    assert.equal(ended.text, "END_LOOP: 3 seconds\n> ");
  } finally {
    looper.close();
    other.close();
  }
});

Deno.test("tcpservd refuses startloop arguments out of range", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    assert.match(
      await ask(conn, "startloop 3601"),
      /^ERR startloop: SECONDS must be/,
    );
    assert.match(await ask(conn, "startloop -1"), /^ERR /);
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd --max-loops limits concurrent startloops", async () => {
  await using server = await ServerProcess.start(["--max-loops", "1"]);
  const first = await session(server.port);
  const second = await session(server.port);
  try {
    await first.write(bytes("startloop 2\n"));
    await readUntil(first, (t) => t.includes("START_LOOP_WAIT\n"));
    assert.equal(
      await ask(second, "startloop 1"),
      "ERR too many loops running (limit 1)\n",
    );
    assert.equal(
      (await readUntil(first, (t) => t.endsWith("\n> "))).text,
      "END_LOOP: 2 seconds\n> ",
    );
  } finally {
    first.close();
    second.close();
  }
});

Deno.test("tcpservd answers a 10 MB line with ERR line too long and stays up", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    const big = new Uint8Array(10 << 20).fill(0x61);
    // The server stops reading long before 10 MB: don't wait for the write.
    const writing = conn.write(big).catch(() => 0);
    const { text, eof } = await readUntil(conn, (t) => t.includes("\n"), 15000);
    assert.equal(text, "ERR line too long\n");
    assert.equal(eof, false);
    await writing;
  } finally {
    conn.close();
  }
  const after = await session(server.port);
  try {
    assert.equal(await ask(after, "getstatus"), "GOOD\n");
  } finally {
    after.close();
  }
  assert.match(server.stderr, /line longer than 4096 bytes/);
});

Deno.test("tcpservd --max-line sets the line limit", async () => {
  await using server = await ServerProcess.start(["--max-line", "16"]);
  const conn = await session(server.port);
  try {
    assert.equal(await ask(conn, "a".repeat(16)), `${"a".repeat(16)}\n`);
    await conn.write(bytes("b".repeat(17) + "\n"));
    assert.equal(await readToEnd(conn), "ERR line too long\n");
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd survives a client reset in the middle of a command", async () => {
  const { setLinger, socketFdOf } = await import("../ffi/mod.ts");
  await using server = await ServerProcess.start();
  for (let i = 0; i < 5; i++) {
    const conn = await session(server.port);
    await conn.write(bytes("getst"));
    // SO_LINGER {1, 0} and a close: the kernel sends an RST.
    setLinger(socketFdOf(conn), { enabled: true, seconds: 0 });
    conn.close();
  }
  const after = await session(server.port);
  try {
    assert.equal(await ask(after, "getstatus"), "GOOD\n");
  } finally {
    after.close();
  }
  assert.equal(server.exited, undefined);
});

Deno.test("tcpservd answers a half-closed client, then closes", async () => {
  await using server = await ServerProcess.start();
  const conn = await session(server.port);
  try {
    await conn.write(bytes("getstatus\n"));
    await conn.closeWrite();
    assert.equal(await readToEnd(conn), "GOOD\n> ");
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd refuses politely past --max-conns", async () => {
  await using server = await ServerProcess.start(["--max-conns", "2"]);
  const a = await session(server.port);
  const b = await session(server.port);
  const c = await connect(server.port);
  try {
    assert.equal(await readToEnd(c), "ERR too many connections\n");
    assert.equal(await ask(a, "getstatus"), "GOOD\n");
  } finally {
    a.close();
    b.close();
    c.close();
  }
  assert.match(
    server.stderr,
    /refusing 127\.0\.0\.1:\d+: 2 connections open \(limit 2\)/,
  );
});

for (const engine of ["epoll", "deno"] as const) {
  Deno.test(`tcpservd --echo --engine ${engine}: a refusal flood logs at most 10 lines a second`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "--engine",
      engine,
      "--max-conns",
      "1",
    ]);
    const held = await connect(server.port);
    const started = performance.now();
    try {
      for (let i = 0; i < 60; i++) {
        const refused = await connect(server.port);
        try {
          // Echo mode refuses with a bare close: no text to mix with data.
          assert.equal(await readToEnd(refused), "");
        } finally {
          refused.close();
        }
      }
    } finally {
      held.close();
    }
    const seconds = Math.ceil((performance.now() - started) / 1000);
    const lines = server.stderr.split("\n").filter((l) =>
      l.includes("refusing ")
    );
    assert.ok(lines.length >= 1, server.stderr);
    // The shared policy's log budget: 10 lines per second and key.
    assert.ok(lines.length <= 10 * (seconds + 1), `${lines.length} lines`);
  });
}

Deno.test("tcpservd closes idle connections with a message", async () => {
  await using server = await ServerProcess.start(["--idle-timeout", "0.5"]);
  const conn = await session(server.port);
  try {
    assert.equal(
      await readToEnd(conn),
      "Closing connection due to inactivity\n",
    );
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd leaks no fd over 1,000 connections", async () => {
  await using server = await ServerProcess.start();
  const warm = await session(server.port);
  assert.equal(await ask(warm, "getstatus"), "GOOD\n");
  await warm.write(bytes("quit\n"));
  await readToEnd(warm);
  warm.close();
  const before = await server.fdCount();
  const one = async (i: number) => {
    const conn = await connect(server.port);
    try {
      if (i % 3 === 0) {
        // Quit politely: the server closes first.
        await readUntil(conn, (t) => t === "> ");
        await conn.write(bytes("quit\n"));
        await readToEnd(conn);
      } else if (i % 3 === 1) {
        await readUntil(conn, (t) => t === "> ");
        assert.equal(await ask(conn, "getstatus"), "GOOD\n");
      }
      // i % 3 === 2: connect and hang up at once.
    } finally {
      conn.close();
    }
  };
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => one(i + j)));
  }
  // A last full round trip: every earlier close has been processed by now.
  const last = await session(server.port);
  await last.write(bytes("quit\n"));
  await readToEnd(last);
  last.close();
  // Clients that hung up first are reaped when the server reads EOF.
  const after = await fdCountSettled(
    () => server.fdCount(),
    before,
    async () => {
      const probe = await session(server.port);
      await ask(probe, "getstatus");
      probe.close();
    },
  );
  assert.ok(after <= before, `fds before ${before}, after ${after}`);
});

Deno.test("tcpservd drains on SIGTERM and exits 0", async () => {
  await using server = await ServerProcess.start();
  const idle = await session(server.port);
  const looping = await session(server.port);
  try {
    await looping.write(bytes("startloop 60\n"));
    await readUntil(looping, (t) => t.includes("START_LOOP_WAIT\n"));
    server.kill("SIGTERM");
    assert.equal(await readToEnd(idle), "");
    // The loop is cut short and its reply finished before the close.
    assert.match(await readToEnd(looping), /^END_LOOP: \d+ seconds\n$/);
    const status = await server.wait();
    assert.equal(status.code, 0);
    await assert.rejects(connect(server.port), Deno.errors.ConnectionRefused);
  } finally {
    idle.close();
    looping.close();
  }
});

Deno.test("tcpservd exits 0 on SIGINT", async () => {
  await using server = await ServerProcess.start();
  server.kill("SIGINT");
  assert.equal((await server.wait()).code, 0);
});

Deno.test("tcpservd listens on IPv6 ::1", async () => {
  await using server = await ServerProcess.start(["-a", "::1"]);
  assert.equal(server.hostname, "::1");
  const conn = await session(server.port, "::1");
  try {
    assert.equal(await ask(conn, "getstatus"), "GOOD\n");
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd -r reads SO_REUSEADDR back from the listener", async () => {
  await using server = await ServerProcess.start(["-r"]);
  assert.match(server.stderr, /SO_REUSEADDR on listener: 1 \(getsockopt\)/);
});

Deno.test("tcpservd --keepalive-idle sets TCP_KEEPIDLE on accepted sockets", async () => {
  await using server = await ServerProcess.start([
    "-k",
    "--keepalive-idle",
    "42",
  ]);
  const conn = await session(server.port);
  try {
    // ss shows the server socket's keepalive timer, armed from TCP_KEEPIDLE.
    const out = await new Deno.Command("ss", {
      args: ["-tnoH", "state", "established", `( sport = :${server.port} )`],
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const timer = text.match(/timer:\(keepalive,(\d+(?:\.\d+)?)(ms|sec|min)/);
    assert.ok(timer, `no keepalive timer in: ${text}`);
    const seconds = Number(timer[1]) /
      (timer[2] === "ms" ? 1000 : timer[2] === "min" ? 1 / 60 : 1);
    assert.ok(seconds > 30 && seconds <= 42, `keepalive timer ${seconds} s`);
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd -s takes the port from /etc/services", async () => {
  const services = await Deno.readTextFile("/etc/services");
  const entry = services.split("\n")
    .map((line) => line.match(/^([a-z][\w-]*)\s+(\d+)\/tcp/))
    .find((m) => m && Number(m[2]) > 1024 && Number(m[2]) < 32768);
  assert.ok(entry, "a tcp service above 1024 in /etc/services");
  const [, name, port] = entry;
  // A loopback address of our own, so the fixed port cannot collide.
  const address = `127.${1 + Math.floor(Math.random() * 250)}.${
    Math.floor(Math.random() * 250)
  }.${2 + Math.floor(Math.random() * 250)}`;
  await using server = await ServerProcess.start(["-s", name!, "-a", address]);
  assert.equal(server.port, Number(port));
  assert.equal(server.hostname, address);
  const result = await runTcpcli(["-s", name!, address]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    new RegExp(`^GOOD ${address.replaceAll(".", "\\.")}:${port} `),
  );
});

Deno.test("tcpservd falls back to port 1971 for an unknown service, with a warning", async () => {
  const address = `127.${1 + Math.floor(Math.random() * 250)}.${
    Math.floor(Math.random() * 250)
  }.${2 + Math.floor(Math.random() * 250)}`;
  await using server = await ServerProcess.start([
    "-s",
    "no-such-service-here",
    "-a",
    address,
  ]);
  assert.equal(server.port, 1971);
  assert.match(
    server.stderr,
    /service no-such-service-here not found in \/etc\/services, using port 1971/,
  );
  const result = await runTcpcli(["-s", "no-such-service-here", address]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
});

Deno.test("tcpservd --log-format json writes JSON lines", async () => {
  await using server = await ServerProcess.start(["--log-format", "json"]);
  const records = server.lines.filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l)
  );
  assert.ok(
    records.some((r) => /^listening on 127\.0\.0\.1:\d+$/.test(r.message)),
  );
  assert.ok(
    records.every((r) =>
      typeof r.level === "string" && typeof r["@timestamp"] === "string"
    ),
  );
});

Deno.test("tcpservd -d logs each command", async () => {
  await using server = await ServerProcess.start(["-d"]);
  const conn = await session(server.port);
  try {
    await ask(conn, "getstatus");
  } finally {
    conn.close();
  }
  await server.waitForLine(/command getstatus/);
});

Deno.test("tcpservd --help prints usage and exits 0", async () => {
  const { CommandProcess, taskArgs } = await import("./_helpers.ts");
  await using proc = new CommandProcess([...taskArgs("tcpservd"), "--help"]);
  const status = await proc.wait();
  assert.equal(status.code, 0);
  assert.match(proc.stdout, /^USAGE:\n {2}tcpservd \[OPTIONS\]/);
});

Deno.test("tcpservd rejects an unknown option with exit 64 and usage on stderr", async () => {
  const { CommandProcess, taskArgs } = await import("./_helpers.ts");
  await using proc = new CommandProcess([...taskArgs("tcpservd"), "-x"]);
  const status = await proc.wait();
  assert.equal(status.code, 64);
  assert.equal(proc.stdout, "");
  assert.match(proc.lines[0] ?? "", /^tcpservd: Unknown option '-x'/);
  assert.match(proc.stderr, /USAGE:/);
});

Deno.test("tcpservd exits 71 when the port is taken", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { CommandProcess, taskArgs } = await import("./_helpers.ts");
  await using proc = new CommandProcess([
    ...taskArgs("tcpservd"),
    "-a",
    "127.0.0.1",
    "-p",
    String(taken.addr.port),
  ]);
  const status = await proc.wait();
  assert.equal(status.code, 71);
  assert.match(proc.stderr, /cannot listen on 127\.0\.0\.1:\d+: .*in use/i);
});
