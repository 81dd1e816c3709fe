import assert from "node:assert/strict";
import { closeFd, tryRead } from "../ffi/mod.ts";
import { bindUnixDatagram } from "../ffi/unix_datagram.ts";
import { parseNotifyEnv, ServiceNotifier } from "./service_notifier.ts";

const decoder = new TextDecoder();

Deno.test("parseNotifyEnv() takes the socket and a watchdog meant for us", () => {
  assert.deepEqual(
    parseNotifyEnv({
      NOTIFY_SOCKET: "/run/n",
      WATCHDOG_USEC: "2000000",
      WATCHDOG_PID: "9",
    }, 9),
    { socket: "/run/n", watchdogUsec: 2_000_000 },
  );
  assert.deepEqual(
    parseNotifyEnv({ NOTIFY_SOCKET: "@n", WATCHDOG_USEC: "5000" }, 9),
    { socket: "@n", watchdogUsec: 5000 },
  );
});

Deno.test("parseNotifyEnv() ignores another process's watchdog, and an empty socket", () => {
  assert.deepEqual(
    parseNotifyEnv({
      NOTIFY_SOCKET: "/run/n",
      WATCHDOG_USEC: "2000000",
      WATCHDOG_PID: "8",
    }, 9),
    { socket: "/run/n", watchdogUsec: undefined },
  );
  assert.deepEqual(parseNotifyEnv({ NOTIFY_SOCKET: "" }, 9), {
    socket: undefined,
    watchdogUsec: undefined,
  });
});

Deno.test("parseNotifyEnv() says why a malformed WATCHDOG_USEC is ignored", () => {
  for (const usec of ["x", "-5", "999", ""]) {
    const config = parseNotifyEnv(
      { NOTIFY_SOCKET: "/run/n", WATCHDOG_USEC: usec },
      9,
    );
    assert.equal(config.watchdogUsec, undefined);
    assert.match(config.problem ?? "", /ignoring WATCHDOG_USEC/);
  }
});

Deno.test("ServiceNotifier without a socket sends nothing and starts no timer", () => {
  const notifier = new ServiceNotifier({
    socket: undefined,
    watchdogUsec: undefined,
  });
  assert.equal(notifier.enabled, false);
  assert.equal(notifier.ready("x"), false);
  notifier.keepAlive(() => "x")();
});

Deno.test("ServiceNotifier sends READY, STATUS and STOPPING datagrams; a gone socket is no throw", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_notify_" });
  const path = `${dir}/notify`;
  const fd = bindUnixDatagram(path);
  try {
    const notifier = new ServiceNotifier({
      socket: path,
      watchdogUsec: undefined,
    });
    assert.equal(notifier.ready("serving on 127.0.0.1:1\nnow"), true);
    assert.equal(notifier.stopping("draining 3 connections"), true);
    const buffer = new Uint8Array(4096);
    const read = () => decoder.decode(buffer.subarray(0, tryRead(fd, buffer)));
    assert.equal(read(), "READY=1\nSTATUS=serving on 127.0.0.1:1 now");
    assert.equal(read(), "STOPPING=1\nSTATUS=draining 3 connections");
    closeFd(fd);
    await Deno.remove(path);
    assert.equal(notifier.notify(["STATUS=gone"]), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ServiceNotifier.keepAlive() pings WATCHDOG=1 every half period with a changed STATUS", async () => {
  const name = `@tcpkit-wd-${Deno.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = bindUnixDatagram(name);
  const notifier = new ServiceNotifier({ socket: name, watchdogUsec: 40_000 });
  let count = 0;
  const stop = notifier.keepAlive(() => `${count < 2 ? 0 : 1} connections`);
  const got: string[] = [];
  const buffer = new Uint8Array(256);
  try {
    // Bounded: 3 pings at 20 ms take about 60 ms; allow 10 s under load.
    const end = Date.now() + 10_000;
    while (got.length < 3 && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const n = tryRead(fd, buffer);
      if (n > 0) {
        got.push(decoder.decode(buffer.subarray(0, n)));
        count++;
      }
    }
  } finally {
    stop();
    closeFd(fd);
  }
  assert.deepEqual(got, [
    "WATCHDOG=1\nSTATUS=0 connections",
    "WATCHDOG=1",
    "WATCHDOG=1\nSTATUS=1 connections",
  ]);
});
