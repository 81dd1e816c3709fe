import assert from "node:assert/strict";
import { DaemonPool, type DaemonPoolOptions } from "./daemon_pool.ts";
import {
  BusyTimeoutError,
  DaemonDiedError,
  PoolClosedError,
  QueueTimeoutError,
  ReplyTooLongError,
} from "./request_errors.ts";
import { Statistics } from "./statistics.ts";
import { waitFor } from "../tests/_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Replies "ok LINE"; "crash…" exits 3, "hang…" never answers, "long…" writes
// 100 bytes without a newline, "slow…" answers after 0.2 s.
const SCRIPT = `
while IFS= read -r line; do
  case $line in
    crash*) exit 3 ;;
    hang*) exec sleep 60 ;;
    long*) head -c 100 /dev/zero | tr '\\0' x ;;
    slow*) sleep 0.2; printf 'ok %s\\n' "$line" ;;
    *) printf 'ok %s\\n' "$line" ;;
  esac
done`;

function pool(options: Partial<DaemonPoolOptions> = {}): {
  pool: DaemonPool;
  stats: Statistics;
} {
  const stats = new Statistics();
  return {
    pool: new DaemonPool({
      command: ["sh", "-c", SCRIPT],
      size: 1,
      tickMs: 50,
      killGraceMs: 200,
      statistics: stats,
      ...options,
    }),
    stats,
  };
}

async function ask(pool: DaemonPool, line: string): Promise<string> {
  return decoder.decode(await pool.request(encoder.encode(line)));
}

/** Checks the counters add up, as SIGUSR1 promises. */
function assertBalanced(stats: Statistics, pool: DaemonPool): void {
  const { queued, inFlight, states } = pool.counters();
  assert.equal(
    stats.total,
    stats.replied + stats.timeout + stats.failed + queued + inFlight,
  );
  assert.equal(
    states.AVAILABLE + states.BUSY + states.SPAWNING + states.STARTING,
    pool.size,
  );
}

Deno.test("DaemonPool answers each request with its daemon's next line", async () => {
  const { pool: p, stats } = pool({ size: 3 });
  try {
    const lines = Array.from({ length: 30 }, (_, i) => `r${i}`);
    const replies = await Promise.all(lines.map((line) => ask(p, line)));
    assert.deepEqual(replies, lines.map((line) => `ok ${line}\n`));
    assert.equal(stats.total, 30);
    assert.equal(stats.replied, 30);
    assert.equal(stats.latency.reduce((a, b) => a + b), 30);
    assertBalanced(stats, p);
    const { states } = p.counters();
    assert.equal(states.BUSY + states.SPAWNING, 0);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool keeps a CRLF reply's terminator and passes any byte", async () => {
  const { pool: p } = pool({ command: ["cat"] });
  try {
    assert.equal(await ask(p, "a\r"), "a\r\n");
    const bytes = new Uint8Array([0, 0xff, 0xfe, 0x61]);
    assert.deepEqual(
      await p.request(bytes),
      new Uint8Array([...bytes, 0x0a]),
    );
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool.request() writes the line's own terminator: CRLF stays CRLF", async () => {
  // The daemon shows the bytes of each line it reads, newline excluded.
  const { pool: p } = pool({
    command: [
      "sh",
      "-c",
      `while IFS= read -r line; do printf '%s' "$line" | od -An -tx1 | tr -d ' \\n'; echo; done`,
    ],
  });
  try {
    const hex = async (terminator?: "\n" | "\r\n") =>
      decoder.decode(await p.request(encoder.encode("hi"), terminator));
    assert.equal(await hex("\r\n"), "68690d\n");
    assert.equal(await hex("\n"), "6869\n");
    assert.equal(await hex(), "6869\n");
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool queues requests in order and times them out", async () => {
  const { pool: p, stats } = pool({ queueTimeoutMs: 100 });
  try {
    const first = ask(p, "slow 1");
    const second = p.request(encoder.encode("second"));
    assert.equal(stats.delayed, 1);
    assertBalanced(stats, p);
    assert.deepEqual(
      [p.counters().queued, p.counters().inFlight],
      [1, 1],
    );
    await assert.rejects(second, QueueTimeoutError);
    assert.equal(await first, "ok slow 1\n");
    assert.equal(stats.timeout, 1);
    assert.equal(stats.failures["queue-timeout"], 1);
    assertBalanced(stats, p);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool hands a freed daemon to the oldest waiter", async () => {
  const { pool: p } = pool({ queueTimeoutMs: 5000 });
  try {
    const order: string[] = [];
    await Promise.all(
      ["slow a", "b", "c", "d"].map((line) =>
        ask(p, line).then((reply) => order.push(reply.trim()))
      ),
    );
    assert.deepEqual(order, ["ok slow a", "ok b", "ok c", "ok d"]);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool kills a daemon past the busy timeout and respawns it", async () => {
  const { pool: p, stats } = pool({ busyTimeoutMs: 200 });
  try {
    const started = performance.now();
    await assert.rejects(ask(p, "hang"), BusyTimeoutError);
    const took = performance.now() - started;
    assert.ok(took >= 200 && took < 200 + 50 + 150, `took ${took} ms`);
    assert.equal(await ask(p, "after"), "ok after\n");
    const counters = p.counters();
    assert.equal(counters.spawns, 2);
    assert.equal(counters.busyKills, 1);
    assert.equal(p.table()[0]!.kills, 1);
    assert.equal(stats.timeout, 1);
    assert.equal(stats.failures["busy-timeout"], 1);
    assertBalanced(stats, p);
    await waitFor(() => p.counters().retiring === 0, {
      what: "no daemon left retiring",
      intervalMs: 10,
    });
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool fails the request of a daemon that dies and respawns it", async () => {
  const { pool: p, stats } = pool();
  try {
    const before = p.table()[0]!.pid;
    await assert.rejects(ask(p, "crash"), DaemonDiedError);
    assert.equal(await ask(p, "next"), "ok next\n");
    assert.notEqual(p.table()[0]!.pid, before);
    assert.equal(p.counters().deaths, 1);
    assert.equal(p.counters().spawns, 2);
    assert.equal(stats.failed, 1);
    assertBalanced(stats, p);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool kills a daemon whose reply passes maxLine", async () => {
  const { pool: p, stats } = pool({ maxLine: 16 });
  try {
    await assert.rejects(ask(p, "long"), ReplyTooLongError);
    assert.equal(await ask(p, "fine"), "ok fine\n");
    assert.equal(stats.failures["reply-too-long"], 1);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool replaces a daemon that writes a line more than its reply; the next request gets its own", async () => {
  const { pool: p, stats } = pool({
    command: ["sh", "-c", 'while read -r l; do echo "a $l"; echo "b $l"; done'],
  });
  try {
    const before = p.table()[0]!.pid;
    assert.equal(await ask(p, "1"), "a 1\n");
    // "b 1" came with the reply or after it: either way the daemon is
    // replaced. (A request sent before "b 1" arrives would get it: the
    // race the README names.)
    await waitFor(() => p.table()[0]!.stray === 1, {
      what: "one stray line on daemon 0",
      intervalMs: 10,
    });
    assert.notEqual(p.table()[0]!.pid, before);
    assert.equal(await ask(p, "2"), "a 2\n");
    assert.equal(stats.replied, 2);
    assertBalanced(stats, p);
    await waitFor(() => p.counters().retiring === 0, {
      what: "no daemon left retiring",
      intervalMs: 10,
    });
    assert.equal(p.counters().deaths, 0, "a replaced daemon is no death");
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool: a flood after a reply reaches nobody, and the flooder is gone", async () => {
  const { pool: p, stats } = pool({
    command: [
      "sh",
      "-c",
      'while read -r l; do case $l in many) exec yes bbbbbbbbbb ;; *) echo "ok $l" ;; esac; done',
    ],
    queueTimeoutMs: 5000,
  });
  try {
    const flooder = p.table()[0]!.pid!;
    // Queued behind "many": dispatched the moment its reply is taken.
    const [many, next] = await Promise.all([ask(p, "many"), ask(p, "next")]);
    assert.equal(many, "bbbbbbbbbb\n");
    assert.equal(next, "ok next\n");
    assert.equal(p.table()[0]!.stray, 1);
    assert.notEqual(p.table()[0]!.pid, flooder);
    await waitFor(() => p.counters().retiring === 0, {
      what: "no daemon left retiring",
      intervalMs: 10,
    });
    assert.equal(stats.replied, 2);
    assertBalanced(stats, p);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool backs off a daemon that writes at every start", async () => {
  const { pool: p } = pool({
    command: ["sh", "-c", "echo banner; exec cat"],
    initialBackoffMs: 50,
    maxBackoffMs: 200,
  });
  try {
    const started = performance.now();
    await waitFor(() => p.counters().spawns >= 4, {
      what: "4 spawns",
      intervalMs: 10,
    });
    // Replacements 1, 2, 3 wait 0, 50 and 100 ms: no spawn storm.
    assert.ok(performance.now() - started >= 140);
    assert.ok(p.table()[0]!.stray >= 3);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool backs off a daemon that exits at start", async () => {
  const { pool: p, stats } = pool({
    command: ["sh", "-c", "exit 1"],
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    queueTimeoutMs: 20,
  });
  try {
    const started = performance.now();
    await waitFor(() => p.counters().spawns >= 4, {
      what: "4 spawns",
      intervalMs: 10,
    });
    // Deaths 1, 2, 3 wait 0, 50 and 100 ms: no respawn storm.
    assert.ok(performance.now() - started >= 140);
    await assert.rejects(
      ask(p, "x"),
      (error: unknown) =>
        error instanceof QueueTimeoutError ||
        error instanceof DaemonDiedError,
    );
    assertBalanced(stats, p);
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool.restartAll() replaces every daemon and fails no request", async () => {
  const { pool: p, stats } = pool({ size: 2, queueTimeoutMs: 5000 });
  try {
    const before = p.table().map((row) => row.pid);
    const busy = [ask(p, "slow 1"), ask(p, "slow 2")];
    const queued = ask(p, "queued");
    p.restartAll();
    assert.deepEqual(await Promise.all(busy), ["ok slow 1\n", "ok slow 2\n"]);
    assert.equal(await queued, "ok queued\n");
    const after = p.table().map((row) => row.pid);
    assert.ok(after.every((pid) => pid !== null && !before.includes(pid)));
    assert.equal(p.counters().spawns, 4);
    assert.equal(stats.failed + stats.timeout, 0);
    await waitFor(() => p.counters().retiring === 0, {
      what: "no daemon left retiring",
      intervalMs: 10,
    });
    assert.equal(p.counters().deaths, 0, "retired daemons are no deaths");
  } finally {
    await p.close();
  }
});

Deno.test("DaemonPool.close() fails what is pending and reaps every daemon", async () => {
  const { pool: p, stats } = pool({ queueTimeoutMs: 5000 });
  const running = ask(p, "hang");
  const waiting = ask(p, "x");
  const closing = p.close();
  await assert.rejects(running, PoolClosedError);
  await assert.rejects(waiting, PoolClosedError);
  await closing;
  await p.close();
  assert.equal(p.counters().retiring, 0);
  await assert.rejects(ask(p, "late"), PoolClosedError);
  assert.equal(stats.failures.closed, 3);
  assertBalanced(stats, p);
});

Deno.test("DaemonPool rejects bad options", () => {
  assert.throws(() => new DaemonPool({ command: [] }), TypeError);
  assert.throws(
    () => new DaemonPool({ command: ["cat"], size: 0 }),
    RangeError,
  );
  assert.throws(
    () => new DaemonPool({ command: ["cat"], size: 1025 }),
    RangeError,
  );
  assert.throws(
    () => new DaemonPool({ command: ["cat"], queueTimeoutMs: -1 }),
    RangeError,
  );
});
