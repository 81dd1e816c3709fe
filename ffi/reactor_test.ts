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

Deno.test("Reactor calls a handler when its fd becomes readable", async () => {
  await using reactor = Reactor.create();
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

Deno.test("Reactor keeps calling a level-triggered handler until the data is read", async () => {
  await using reactor = Reactor.create();
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

Deno.test("Reactor.unwatch() stops calls, even for events already taken", async () => {
  await using reactor = Reactor.create();
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

Deno.test("Reactor.setEvents() switches between readable and writable", async () => {
  await using reactor = Reactor.create();
  using pair = socketPair();
  const { promise, resolve } = Promise.withResolvers<number>();
  reactor.watch(pair.a, 0, (events) => resolve(events));
  reactor.setEvents(pair.a, EPOLLOUT);
  assert.ok((await promise) & EPOLLOUT);
  assert.throws(() => reactor.setEvents(999_999, EPOLLIN), /not watched/);
});

Deno.test("Reactor reports a throwing handler to onError and goes on", async () => {
  const errors: unknown[] = [];
  await using reactor = Reactor.create({
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
});

Deno.test("Reactor lets timers run while fds stay busy", async () => {
  await using reactor = Reactor.create();
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
