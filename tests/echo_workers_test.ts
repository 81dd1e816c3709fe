/**
 * tcpservd --echo and master + workers, as separate processes over real
 * sockets: data integrity, spreading, respawn, shutdown, shared state.
 */
import assert from "node:assert/strict";
import { closeWithReset } from "../ffi/mod.ts";
import {
  ask,
  bytes,
  connect,
  fdCountOf,
  fdCountSettled,
  isRunning,
  readExactly,
  readToEnd,
  readUntil,
  ServerProcess,
  session,
  taskArgs,
  waitFor,
  within,
} from "./_helpers.ts";

/** Which worker logged the connection from `port` (needs `-d`). */
async function workerOf(
  server: ServerProcess,
  conn: Deno.TcpConn,
): Promise<number> {
  const port = conn.localAddr.port;
  const match = await server.waitForLine(
    new RegExp(`worker-(\\d+): connection \\d+ from 127\\.0\\.0\\.1:${port}$`),
  );
  return Number(match[1]);
}

/** Worker pids as the master logged them, by worker id (latest start wins). */
function workerPids(server: ServerProcess): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of server.lines) {
    const m = line.match(/worker (\d+) started \(pid (\d+)\)/);
    if (m) pids.set(Number(m[1]), Number(m[2]));
  }
  return pids;
}

/** Echoes `data` through `conn` and returns what came back. */
async function echoed(
  conn: Deno.TcpConn,
  data: Uint8Array,
): Promise<Uint8Array> {
  const reading = readExactly(conn, data.length, 20000);
  reading.catch(() => {}); // Awaited below, after the writes.
  let sent = 0;
  while (sent < data.length) sent += await conn.write(data.subarray(sent));
  return await reading;
}

// The echo engines: raw sockets + inline epoll (default), and Deno.listen.
const ENGINES = ["epoll", "deno"] as const;

function randomBytes(size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(data.subarray(i, i + 65536));
  }
  return data;
}

for (const engine of ENGINES) {
  Deno.test(`tcpservd --echo sends 1 MB of random bytes back identical (--engine ${engine})`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "--engine",
      engine,
    ]);
    const conn = await connect(server.port);
    try {
      const data = randomBytes(1 << 20);
      assert.deepEqual(await echoed(conn, data), data);
    } finally {
      conn.close();
    }
  });
}

Deno.test("tcpservd --echo has no prompt and no commands", async () => {
  await using server = await ServerProcess.start(["--echo"]);
  const conn = await connect(server.port);
  try {
    assert.deepEqual(
      await echoed(conn, bytes("getstatus\n")),
      bytes("getstatus\n"),
    );
    assert.deepEqual(await echoed(conn, bytes("quit\n")), bytes("quit\n"));
  } finally {
    conn.close();
  }
});

for (const engine of ENGINES) {
  Deno.test(`tcpservd --echo -w 2 echoes 1 MB identical through each worker (--engine ${engine})`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "-w",
      "2",
      "-d",
      "--engine",
      engine,
    ]);
    const seen = new Set<number>();
    const conns: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 64 && seen.size < 2; i++) {
        const conn = await connect(server.port);
        conns.push(conn);
        const worker = await workerOf(server, conn);
        if (seen.has(worker)) continue;
        seen.add(worker);
        const data = randomBytes(1 << 20);
        assert.deepEqual(await echoed(conn, data), data);
      }
      assert.deepEqual(
        [...seen].sort(),
        [1, 2],
        "connections reach both workers",
      );
    } finally {
      for (const conn of conns) conn.close();
    }
  });
}

Deno.test("tcpservd -w 2: a killed worker is replaced and other clients notice nothing", async () => {
  await using server = await ServerProcess.start(["--echo", "-w", "2", "-d"]);
  const conns: Deno.TcpConn[] = [];
  try {
    const byWorker = new Map<number, Deno.TcpConn>();
    for (let i = 0; i < 64 && byWorker.size < 2; i++) {
      const conn = await connect(server.port);
      conns.push(conn);
      byWorker.set(await workerOf(server, conn), conn);
    }
    assert.equal(byWorker.size, 2);
    const victimPid = workerPids(server).get(1)!;
    const survivor = byWorker.get(2)!;
    assert.deepEqual(
      await echoed(survivor, bytes("before\n")),
      bytes("before\n"),
    );
    const mark = server.lines.length;
    Deno.kill(victimPid, "SIGKILL");
    await server.waitForLine(
      /worker 1 \(pid \d+\) exited \(signal SIGKILL\).*respawning/,
      15000,
      mark,
    );
    const restarted = await server.waitForLine(
      /worker 1 started \(pid (\d+)\)/,
      15000,
      mark,
    );
    assert.notEqual(Number(restarted[1]), victimPid);
    await server.waitForLine(
      new RegExp(`worker-1: worker 1 \\(pid ${restarted[1]}\\) accepting`),
    );
    // The client on worker 2 goes on as if nothing happened.
    for (let i = 0; i < 20; i++) {
      const line = bytes(`after ${i}\n`);
      assert.deepEqual(await echoed(survivor, line), line);
    }
    // And the new worker 1 serves new connections.
    let reachedNew = false;
    for (let i = 0; i < 64 && !reachedNew; i++) {
      const conn = await connect(server.port);
      conns.push(conn);
      assert.deepEqual(await echoed(conn, bytes("new\n")), bytes("new\n"));
      reachedNew = (await workerOf(server, conn)) === 1;
    }
    assert.ok(reachedNew, "a connection reached the respawned worker");
  } finally {
    for (const conn of conns) conn.close();
  }
});

for (const engine of ENGINES) {
  Deno.test(`tcpservd -w 2 on SIGTERM: every client reads a clean EOF, the master exits 0 (--engine ${engine})`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "-w",
      "2",
      "-d",
      "--engine",
      engine,
    ]);
    const conns: Deno.TcpConn[] = [];
    try {
      const workers = new Set<number>();
      for (let i = 0; i < 64 && (conns.length < 6 || workers.size < 2); i++) {
        const conn = await connect(server.port);
        conns.push(conn);
        workers.add(await workerOf(server, conn));
        assert.deepEqual(await echoed(conn, bytes("hi\n")), bytes("hi\n"));
      }
      assert.equal(workers.size, 2);
      server.kill("SIGTERM");
      for (const conn of conns) {
        // A FIN reads as EOF; an RST would throw ConnectionReset here.
        assert.equal(await readToEnd(conn), "");
      }
      assert.equal((await server.wait()).code, 0);
      assert.match(server.stderr, /all workers stopped/);
    } finally {
      for (const conn of conns) conn.close();
    }
  });
}

Deno.test("tcpservd --echo --send-reset resets idle clients instead of a FIN", async () => {
  await using server = await ServerProcess.start([
    "--echo",
    "--send-reset",
    "--idle-timeout",
    "0.3",
  ]);
  const conn = await connect(server.port);
  try {
    await assert.rejects(
      within(
        10000,
        "the reset",
        (async () => {
          const buf = new Uint8Array(256);
          while ((await conn.read(buf)) !== null) {
            // The inactivity message may arrive first.
          }
          throw new Error("clean EOF: no reset");
        })(),
      ),
      Deno.errors.ConnectionReset,
    );
  } finally {
    conn.close();
  }
});

for (const engine of ENGINES) {
  Deno.test(`tcpservd --echo --send-reset resets clients on SIGTERM (--engine ${engine})`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "--send-reset",
      "-w",
      "2",
      "--engine",
      engine,
    ]);
    const conn = await connect(server.port);
    try {
      assert.deepEqual(await echoed(conn, bytes("x")), bytes("x"));
      server.kill("SIGTERM");
      await assert.rejects(readToEnd(conn), Deno.errors.ConnectionReset);
      assert.equal((await server.wait()).code, 0);
    } finally {
      conn.close();
    }
  });
}

for (const engine of ENGINES) {
  Deno.test(`tcpservd --echo closes an idle client with the inactivity message (--engine ${engine})`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "--idle-timeout",
      "0.5",
      "--engine",
      engine,
    ]);
    const conn = await connect(server.port);
    try {
      assert.deepEqual(await echoed(conn, bytes("ping\n")), bytes("ping\n"));
      assert.equal(
        await readToEnd(conn),
        "Closing connection due to inactivity\n",
      );
    } finally {
      conn.close();
    }
  });
}

Deno.test("tcpservd -w 2: a setbad on one worker is seen at once on the other", async () => {
  await using server = await ServerProcess.start(["-w", "2", "-d"]);
  const byWorker = new Map<number, Deno.TcpConn>();
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 64 && byWorker.size < 2; i++) {
      const conn = await session(server.port);
      conns.push(conn);
      byWorker.set(await workerOf(server, conn), conn);
    }
    assert.equal(byWorker.size, 2);
    const [one, two] = [byWorker.get(1)!, byWorker.get(2)!];
    assert.equal(await ask(two, "getstatus"), "GOOD\n");
    assert.equal(await ask(one, "setbad"), "Status is BAD\n");
    assert.equal(await ask(two, "getstatus"), "BAD\n");
    assert.equal(await ask(two, "setgood"), "Status is GOOD\n");
    assert.equal(await ask(one, "getstatus"), "GOOD\n");
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("tcpservd -w 2 --initial-state bad starts every worker BAD", async () => {
  await using server = await ServerProcess.start([
    "-w",
    "2",
    "--initial-state",
    "bad",
  ]);
  const conn = await session(server.port);
  try {
    assert.equal(await ask(conn, "getstatus"), "BAD\n");
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd -w 2: no worker is left running after the master is SIGKILLed", async () => {
  await using server = await ServerProcess.start(["--echo", "-w", "2"]);
  const pids = [...workerPids(server).values()];
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.ok(await isRunning(pid), `worker ${pid} runs`);
  server.kill("SIGKILL");
  // Workers share the master's stderr: it reaches EOF only when all are gone.
  await server.wait(15000);
  for (const pid of pids) {
    assert.equal(await isRunning(pid), false, `worker ${pid} is gone`);
  }
});

Deno.test("tcpservd -w 2 exits with an error when workers crash in a loop", async () => {
  await using server = await ServerProcess.start(["--echo", "-w", "2"]);
  const killed = new Set<number>();
  // Kill worker 1 each time it starts, until the master gives up.
  const killer = (async () => {
    for (let round = 0; round < 20 && !server.exited; round++) {
      const pid = workerPids(server).get(1)!;
      if (!killed.has(pid)) {
        killed.add(pid);
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await server.waitForLine(
        new RegExp(
          `worker 1 started \\(pid (?!${
            [...killed].join("|")
          }\\))\\d+\\)|crash loop`,
        ),
        15000,
      ).catch(() => {});
    }
  })();
  const status = await server.wait(30000);
  await killer;
  assert.equal(status.code, 70);
  assert.match(server.stderr, /crash loop/);
  assert.ok(killed.size >= 5, `killed ${killed.size} workers`);
});

Deno.test("tcpservd -w 2 forwards SIGUSR1: each worker logs its connection counts", async () => {
  await using server = await ServerProcess.start(["--echo", "-w", "2"]);
  const conn = await connect(server.port);
  try {
    assert.deepEqual(await echoed(conn, bytes("x")), bytes("x"));
    server.kill("SIGUSR1");
    await server.waitForLine(
      /worker-1: handling \d+ connections; handled \d+ in total/,
    );
    await server.waitForLine(
      /worker-2: handling \d+ connections; handled \d+ in total/,
    );
    const counts = server.lines.flatMap((l) => {
      const m = l.match(/handling (\d+) connections; handled (\d+) in total/);
      return m ? [[Number(m[1]), Number(m[2])]] : [];
    });
    assert.deepEqual(
      counts.reduce((a, [cur, tot]) => [a[0]! + cur!, a[1]! + tot!], [0, 0]),
      [1, 1],
    );
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd -w 2: replacing workers leaks no fd in the master (each worker's stdin pipe is closed)", async () => {
  await using server = await ServerProcess.start(["--echo", "-w", "2"]);
  const fds = () => fdCountOf(server.pid);
  // Both workers up: the master's fd table as it runs.
  await waitFor(() => workerPids(server).size === 2, { what: "two workers" });
  const before = await fds();
  for (let round = 1; round <= 4; round++) {
    const victim = workerPids(server).get(1)!;
    const mark = server.lines.length;
    Deno.kill(victim, "SIGKILL");
    const started = await server.waitForLine(
      /worker 1 started \(pid (\d+)\)/,
      15000,
      mark,
    );
    await server.waitForLine(
      new RegExp(`worker-1: worker 1 \\(pid ${started[1]}\\) accepting`),
      15000,
      mark,
    );
  }
  // One pipe a respawn leaked before the fix: 4 more fds after 4 rounds.
  const after = await waitFor(async () => {
    const now = await fds();
    return now <= before ? now : undefined;
  }, { what: `the master's fds back to ${before}`, ms: 5000, intervalMs: 100 })
    .catch(async () => await fds());
  assert.ok(after <= before, `master fds ${before} -> ${after}`);
});

Deno.test("tcpservd --max-connections retires a worker after N and the master replaces it", async () => {
  await using server = await ServerProcess.start([
    "--echo",
    "-w",
    "2",
    "--max-connections",
    "2",
  ]);
  // Three connections on two workers: one worker serves two and retires,
  // while the other still listens (two retiring at once would leave a gap).
  for (let i = 0; i < 3; i++) {
    const conn = await connect(server.port);
    try {
      assert.deepEqual(await echoed(conn, bytes("x")), bytes("x"));
    } finally {
      conn.close();
    }
  }
  await server.waitForLine(
    /served 2 connections \(limit 2\): no longer accepting/,
  );
  await server.waitForLine(
    /worker \d \(pid \d+\) exited \(code 0\).*respawning/,
  );
  assert.equal(server.exited, undefined, "the master keeps running");
});

Deno.test("tcpservd --max-concurrent-connections pauses accepting until a slot frees", async () => {
  await using server = await ServerProcess.start([
    "--echo",
    "--max-concurrent-connections",
    "1",
  ]);
  const first = await connect(server.port);
  const second = await connect(server.port);
  try {
    assert.deepEqual(await echoed(first, bytes("1")), bytes("1"));
    await server.waitForLine(/pausing accept: 1 connections open \(limit 1\)/);
    // Queued in the backlog: the write is buffered, no echo until `first` closes.
    await second.write(bytes("2"));
    first.close();
    const { text } = await readUntil(second, (t) => t === "2");
    assert.equal(text, "2");
    await server.waitForLine(/resuming accept/);
  } finally {
    try {
      first.close();
    } catch {
      // Closed above.
    }
    second.close();
  }
});

Deno.test("tcpservd -w 0 starts one worker per CPU", async () => {
  await using server = await ServerProcess.start(["--echo", "-w", "0"]);
  assert.equal(workerPids(server).size, navigator.hardwareConcurrency);
  assert.match(
    server.stderr,
    new RegExp(`${navigator.hardwareConcurrency} workers ready`),
  );
});

Deno.test("tcpservd --echo (epoll engine) leaks no fd over 1,000 connections", async () => {
  await using server = await ServerProcess.start(["--echo"]);
  const warm = await connect(server.port);
  assert.deepEqual(await echoed(warm, bytes("warm\n")), bytes("warm\n"));
  // Counted while `warm` is open and served, less its own fd: counting after
  // its close races the server's reading of that close.
  const before = (await server.fdCount()) - 1;
  warm.close();
  const one = async (i: number) => {
    const conn = await connect(server.port);
    try {
      if (i % 3 === 0) {
        assert.deepEqual(await echoed(conn, bytes(`${i}\n`)), bytes(`${i}\n`));
      } else if (i % 3 === 1) {
        // Half-close: everything comes back, then the server's FIN.
        await conn.write(bytes(`${i}\n`));
        await conn.closeWrite();
        assert.equal(await readToEnd(conn), `${i}\n`);
      }
      // i % 3 === 2: connect and hang up at once.
    } finally {
      conn.close();
    }
  };
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => one(i + j)));
  }
  // A round trip: closes the server has not read yet get read.
  const after = await fdCountSettled(
    () => server.fdCount(),
    before,
    async () => {
      const probe = await connect(server.port);
      await echoed(probe, bytes("?"));
      probe.close();
    },
  );
  assert.equal(after, before);
});

Deno.test("tcpservd --echo (epoll engine) serves others while a client does not read", async () => {
  await using server = await ServerProcess.start(["--echo"]);
  const hog = await connect(server.port);
  const other = await connect(server.port);
  try {
    // More than the four socket buffers on the way hold (at most ~20 MB).
    const flood = randomBytes(48 << 20);
    const writer = writeAll(hog, flood);
    // The hog is stuck (neither side reads); the other client is served.
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(
        await echoed(other, bytes(`ping ${i}\n`)),
        bytes(`ping ${i}\n`),
      );
    }
    assert.ok(writer.written < flood.length, "the flood is held back");
    const back = new Uint8Array(flood.length);
    let got = 0;
    while (got < flood.length) {
      const n = await hog.read(back.subarray(got));
      if (n === null) throw new Error(`EOF after ${got} bytes`);
      got += n;
    }
    await writer.done;
    assert.equal(writer.error, undefined);
    assert.deepEqual(back, flood);
  } finally {
    hog.close();
    other.close();
  }
});

/** A background write of all of some data; see {@linkcode writeAll}. */
interface BackgroundWrite {
  /** Bytes the socket took so far. */
  readonly written: number;
  /** What ended the write early, if anything (a reset). */
  readonly error: unknown;
  /** Settles (never rejects) when the write ends. */
  readonly done: Promise<void>;
}

/** Writes all of `data` in the background. */
function writeAll(conn: Deno.Conn, data: Uint8Array): BackgroundWrite {
  const state: { written: number; error: unknown; done: Promise<void> } = {
    written: 0,
    error: undefined,
    done: Promise.resolve(),
  };
  state.done = (async () => {
    try {
      while (state.written < data.length) {
        state.written += await conn.write(data.subarray(state.written));
      }
    } catch (error) {
      state.error = error;
    }
  })();
  return state;
}

/**
 * Resolves once `progress()` has stopped growing for 5 checks in a row, 50 ms
 * apart (a writer blocked on full socket buffers); bounded to 20 s.
 */
async function writerStalled(progress: () => number): Promise<void> {
  let last = -1;
  let still = 0;
  await waitFor(() => {
    const now = progress();
    still = now === last ? still + 1 : 0;
    last = now;
    return still >= 5;
  }, { what: "the writer to stall", ms: 20000, intervalMs: 50, tries: 401 });
}

/** The time of day of a text log line ("2026-11-22 02:44:41.616 +00 …"), in ms. */
function logTimeMs(line: string): number {
  const m = line.match(/(\d\d):(\d\d):(\d\d)\.(\d{3}) /);
  if (!m) throw new Error(`No time in log line: ${line}`);
  const [h, min, sec, ms] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
  ];
  return ((h * 60 + min) * 60 + sec) * 1000 + ms;
}

for (const engine of ENGINES) {
  Deno.test(`tcpservd --echo out of fds backs off, then serves who waited (--engine ${engine})`, async () => {
    // Deno raises its soft fd limit to the hard one: set both.
    await using server = await ServerProcess.start(
      [
        "--nofile=64:64",
        "--",
        Deno.execPath(),
        ...taskArgs("tcpservd"),
        "--echo",
        "--engine",
        engine,
        "-d",
      ],
      { command: "prlimit" },
    );
    const conns: Deno.TcpConn[] = [];
    try {
      // More than 64 fds hold: the rest wait in the listen queue.
      for (let i = 0; i < 70; i++) conns.push(await connect(server.port));
      await server.waitForLine(/accept failed: .*(EMFILE|Too many open files)/);
      // Every retry at debug level; the warning comes once a minute.
      const failures = () => server.lines.filter((l) => /accept retry/.test(l));
      for (let i = 0; i < 10 && failures().length < 4; i++) {
        await server.waitForLine(/accept retry/, 15000, server.lines.length);
      }
      assert.equal(
        server.lines.filter((l) => /accept failed/.test(l)).length,
        1,
      );
      // Retries 100 ms apart (a spinning accept would log these at once).
      const [first, , , fourth] = failures().map(logTimeMs);
      assert.ok(fourth! - first! >= 250, `${fourth! - first!} ms`);
      for (const conn of conns.splice(0, 50)) conn.close();
      // Twenty left, accepted before or after the back-off: all served.
      for (const [i, conn] of conns.entries()) {
        assert.deepEqual(
          await echoed(conn, bytes(`still ${i}\n`)),
          bytes(`still ${i}\n`),
        );
      }
      assert.ok(isRunning(server.pid));
    } finally {
      for (const conn of conns) conn.close();
    }
  });
}

for (const engine of ENGINES) {
  Deno.test(`tcpservd --echo sets and reads back the socket options it is given (--engine ${engine})`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "--engine",
      engine,
      "-d",
      "--nodelay",
      "--linger-timeout",
      "7",
      "--keepalive-delay",
      "30",
    ]);
    const line = server.lines.find((l) => /listener socket options/.test(l));
    assert.ok(line, "the read-back is logged before listening");
    for (
      const option of [
        "SO_KEEPALIVE: 1",
        "TCP_KEEPIDLE: 30",
        "TCP_NODELAY: 1",
        "TCP_LINGER2: 7",
      ]
    ) {
      assert.ok(line.includes(option), `${option} in ${line}`);
    }
  });

  Deno.test(`tcpservd --echo --drain-timeout bounds a drain held by a client that reads nothing (--engine ${engine})`, async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "--engine",
      engine,
      "--drain-timeout",
      "1",
    ]);
    const hog = await connect(server.port);
    try {
      // More than the socket buffers hold: the server is left holding echo
      // it cannot send, so its drain cannot finish on its own.
      const flood = randomBytes(48 << 20);
      const writer = writeAll(hog, flood);
      // The writer stalls only once the server has stopped reading, which
      // it does only while it holds echo it cannot send.
      await writerStalled(() => writer.written);
      const polite = await connect(server.port);
      assert.deepEqual(await echoed(polite, bytes("x")), bytes("x"));
      server.kill("SIGTERM");
      assert.equal(await readToEnd(polite), "");
      polite.close();
      const status = await within(10000, "the exit", server.wait());
      assert.equal(status.code, 0);
      assert.ok(writer.written < flood.length, "the hog was still held back");
      // The server closed on it with echo unread: a reset is expected.
      await writer.done;
    } finally {
      hog.close();
    }
  });
}

Deno.test("tcpservd --echo -a localhost listens on what the name resolves to", async () => {
  await using server = await ServerProcess.start(["--echo", "-a", "localhost"]);
  using expected = Deno.listen({ hostname: "localhost", port: 0 });
  assert.equal(server.hostname, expected.addr.hostname);
  const conn = await Deno.connect({
    hostname: server.hostname,
    port: server.port,
  });
  try {
    assert.deepEqual(await echoed(conn, bytes("named\n")), bytes("named\n"));
  } finally {
    conn.close();
  }
});

Deno.test("tcpservd --echo -d says why a connection ended when its peer resets it", async () => {
  await using server = await ServerProcess.start(["--echo", "-d"]);
  const conn = await connect(server.port);
  assert.deepEqual(await echoed(conn, bytes("hi\n")), bytes("hi\n"));
  closeWithReset(conn);
  await server.waitForLine(/connection \d+ ended: read: ECONNRESET/);
  // Still serving.
  const next = await connect(server.port);
  try {
    assert.deepEqual(await echoed(next, bytes("on\n")), bytes("on\n"));
  } finally {
    next.close();
  }
});
