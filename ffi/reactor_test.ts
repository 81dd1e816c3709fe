import assert from "node:assert/strict";
import {
  AF_UNIX,
  EPOLLIN,
  EPOLLOUT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./constants.ts";
import { check } from "./errno.ts";
import { libc } from "./libc.ts";
import { Reactor } from "./reactor.ts";

const WAITS = ["pool", "inline"] as const;

/**
 * Resolves once an inline reactor's loop dispatches events, i.e. it has
 * left its start-up turn and waits on the JavaScript thread.
 */
async function inlineWaitRunning(reactor: Reactor): Promise<void> {
  using pair = socketPair();
  const { promise, resolve } = Promise.withResolvers<void>();
  reactor.watch(pair.a, EPOLLIN, () => {
    drain(pair.a);
    resolve();
  });
  write(pair.b, "?");
  await promise;
  reactor.unwatch(pair.a);
}

/** A non-blocking Unix socket pair, closed by the returned disposer. */
function socketPair(): { a: number; b: number } & Disposable {
  const sv = new Int32Array(2);
  check(
    libc().socketpair(
      AF_UNIX,
      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
      0,
      sv,
    ),
    "socketpair",
  );
  const [a = -1, b = -1] = sv;
  return {
    a,
    b,
    [Symbol.dispose]() {
      libc().close(a);
      libc().close(b);
    },
  };
}

function write(fd: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  check(libc().write(fd, bytes, BigInt(bytes.length)), "write");
}

function drain(fd: number): string {
  const buffer = new Uint8Array(1024);
  const n = libc().read(fd, buffer, BigInt(buffer.length));
  return n > 0n ? new TextDecoder().decode(buffer.subarray(0, Number(n))) : "";
}

for (const wait of WAITS) {
  Deno.test(`Reactor calls a handler when its fd becomes readable (wait: ${wait})`, async () => {
    await using reactor = Reactor.create({ wait });
    using pair = socketPair();
    const { promise, resolve } = Promise.withResolvers<string>();
    reactor.watch(pair.a, EPOLLIN, (events) => {
      assert.ok(events & EPOLLIN);
      resolve(drain(pair.a));
    });
    write(pair.b, "ping");
    assert.equal(await promise, "ping");
    assert.equal(reactor.size, 1);
  });
}

for (const wait of WAITS) {
  Deno.test(`Reactor keeps calling a level-triggered handler until the data is read (wait: ${wait})`, async () => {
    await using reactor = Reactor.create({ wait });
    using pair = socketPair();
    let calls = 0;
    const { promise, resolve } = Promise.withResolvers<void>();
    reactor.watch(pair.a, EPOLLIN, () => {
      calls++;
      if (calls === 3) {
        drain(pair.a);
        resolve();
      }
    });
    write(pair.b, "x");
    await promise;
    assert.equal(calls, 3);
  });
}

for (const wait of WAITS) {
  Deno.test(`Reactor.unwatch() stops calls, even for events already taken (wait: ${wait})`, async () => {
    await using reactor = Reactor.create({ wait });
    using first = socketPair();
    using second = socketPair();
    let unwatched = false;
    let callsAfterUnwatch = 0;
    let firstCalls = 0;
    const { promise, resolve } = Promise.withResolvers<void>();
    // Both become ready, often in the same epoll_wait; the first handler
    // removes the second fd, whose event may already be in the batch.
    reactor.watch(first.a, EPOLLIN, () => {
      firstCalls++;
      drain(first.a);
      if (firstCalls === 1) {
        reactor.unwatch(second.a);
        unwatched = true;
        // Events are dispatched in order: once this one comes back, anything
        // for the second fd would have come first.
        write(second.b, "more");
        write(first.b, "again");
      } else {
        resolve();
      }
    });
    reactor.watch(second.a, EPOLLIN, () => {
      if (unwatched) callsAfterUnwatch++;
    });
    write(second.b, "2");
    write(first.b, "1");
    await promise;
    assert.equal(callsAfterUnwatch, 0);
    assert.equal(reactor.isWatching(second.a), false);
    // Removing an fd not watched is a no-op.
    reactor.unwatch(second.a);
  });
}

for (const wait of WAITS) {
  Deno.test(`Reactor.setEvents() switches between readable and writable (wait: ${wait})`, async () => {
    await using reactor = Reactor.create({ wait });
    using pair = socketPair();
    const { promise, resolve } = Promise.withResolvers<number>();
    reactor.watch(pair.a, 0, (events) => resolve(events));
    reactor.setEvents(pair.a, EPOLLOUT);
    assert.ok((await promise) & EPOLLOUT);
    assert.throws(() => reactor.setEvents(999_999, EPOLLIN), /not watched/);
  });
}

for (const wait of WAITS) {
  Deno.test(`Reactor reports a throwing handler to onError and goes on (wait: ${wait})`, async () => {
    const errors: unknown[] = [];
    await using reactor = Reactor.create({
      wait,
      onError: (error) => errors.push(error),
    });
    using pair = socketPair();
    const { promise, resolve } = Promise.withResolvers<void>();
    let calls = 0;
    reactor.watch(pair.a, EPOLLIN, () => {
      calls++;
      if (calls === 1) throw new Error("boom");
      drain(pair.a);
      resolve();
    });
    write(pair.b, "x");
    await promise;
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, "boom");
  });
}

Deno.test("Reactor.close() ends a pending wait at once and is idempotent", async () => {
  const reactor = Reactor.create({ waitTimeoutMs: 60000 });
  // Let the loop reach its wait on the thread pool.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = performance.now();
  await reactor.close();
  await reactor.close();
  assert.ok(performance.now() - started < 5000);
  assert.equal(reactor.closed, true);
  assert.throws(() => reactor.watch(0, EPOLLIN, () => {}), /closed Reactor/);
});

Deno.test("Reactor.create() validates its options", () => {
  assert.throws(() => Reactor.create({ maxEvents: 0 }), RangeError);
  assert.throws(() => Reactor.create({ waitTimeoutMs: 0 }), RangeError);
  assert.throws(
    () => Reactor.create({ wait: "busy" as "pool" }),
    /Invalid wait: expected "pool" or "inline", got busy/,
  );
});

Deno.test("an inline Reactor serves Deno's own sockets at once while it waits", async () => {
  // A 1 s cap: were Deno's epoll not in the set, each round trip would wait
  // for it and twenty would take 20 s. A rare callback may miss its wake
  // and take one cap; allow three.
  await using reactor = Reactor.create({ wait: "inline", waitTimeoutMs: 1000 });
  assert.equal(reactor.wait, "inline");
  await inlineWaitRunning(reactor);
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    using conn = await listener.accept();
    const buffer = new Uint8Array(64);
    for (let n; (n = await conn.read(buffer)) !== null;) {
      await conn.write(buffer.subarray(0, n));
    }
  })();
  const started = performance.now();
  {
    using client = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
    });
    const reply = new Uint8Array(4);
    for (let i = 0; i < 20; i++) {
      await client.write(new TextEncoder().encode(`p${i % 10}\n`));
      let got = 0;
      while (got < 3) {
        const n = await client.read(reply.subarray(got));
        assert.notEqual(n, null);
        got += n!;
      }
      assert.equal(
        new TextDecoder().decode(reply.subarray(0, 3)),
        `p${i % 10}\n`,
      );
    }
  }
  await served;
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 4000, `20 round trips took ${elapsed.toFixed(0)} ms`);
});

Deno.test("an inline Reactor lets signal listeners run at once", async () => {
  await using reactor = Reactor.create({ wait: "inline", waitTimeoutMs: 1000 });
  await inlineWaitRunning(reactor);
  const started = performance.now();
  for (let i = 0; i < 10; i++) {
    const { promise, resolve } = Promise.withResolvers<void>();
    const listener = () => resolve();
    Deno.addSignalListener("SIGUSR2", listener);
    try {
      Deno.kill(Deno.pid, "SIGUSR2");
      await promise;
    } finally {
      Deno.removeSignalListener("SIGUSR2", listener);
    }
  }
  const elapsed = performance.now() - started;
  // Ten caps (10 s) if signals had to wait for one; allow three misses.
  assert.ok(elapsed < 4000, `10 signals took ${elapsed.toFixed(0)} ms`);
});

Deno.test("an inline Reactor runs timers within waitTimeoutMs and does not spin while idle", async () => {
  await using reactor = Reactor.create({ wait: "inline", waitTimeoutMs: 50 });
  // A pending timer of someone else's: a turn taken with a timer of its own
  // would make Deno's epoll ready again after each turn, and spin.
  const other = setInterval(() => {}, 1000);
  try {
    const before = reactor.yields;
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const elapsed = performance.now() - started;
    const yields = reactor.yields - before;
    // ~10 turns in 500 ms at a 50 ms cap; a spinning loop makes hundreds.
    assert.ok(yields < 100, `${yields} turns in ${elapsed.toFixed(0)} ms`);
    assert.ok(elapsed >= 499 && elapsed < 3000, `${elapsed} ms`);
  } finally {
    clearInterval(other);
  }
});

Deno.test("an inline Reactor is one per thread", async () => {
  const first = Reactor.create({ wait: "inline" });
  try {
    assert.throws(
      () => Reactor.create({ wait: "inline" }),
      /one already runs on this thread/,
    );
    // A pool reactor can run beside it.
    await Reactor.create({ wait: "pool" }).close();
  } finally {
    await first.close();
  }
  await Reactor.create({ wait: "inline" }).close();
});

Deno.test("an inline Reactor stops when a handler closes it", async () => {
  const reactor = Reactor.create({ wait: "inline", waitTimeoutMs: 3000 });
  using pair = socketPair();
  reactor.watch(pair.a, EPOLLIN, () => {
    drain(pair.a);
    void reactor.close();
  });
  write(pair.b, "bye");
  await reactor.close();
  assert.equal(reactor.closed, true);
  assert.equal(reactor.size, 0);
});

for (const wait of WAITS) {
  Deno.test(`Reactor lets timers run while fds stay busy (wait: ${wait})`, async () => {
    await using reactor = Reactor.create({ wait });
    using pair = socketPair();
    // A handler that never drains keeps the fd ready forever.
    reactor.watch(pair.a, EPOLLIN, () => {});
    write(pair.b, "busy");
    const fired = await new Promise<boolean>((resolve) =>
      setTimeout(() => resolve(true), 10)
    );
    assert.equal(fired, true);
    reactor.unwatch(pair.a);
  });
}
