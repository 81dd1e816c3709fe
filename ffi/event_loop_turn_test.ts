import assert from "node:assert/strict";
import { EventLoopTurn } from "./event_loop_turn.ts";
import { epollFds } from "./runtime_epolls.ts";

Deno.test("EventLoopTurn.take() lets a ready socket's callback run before it resolves", async () => {
  const turn = await EventLoopTurn.open();
  try {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using client = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
    });
    using server = await listener.accept();
    let read = false;
    const pending = server.read(new Uint8Array(8)).then(() => read = true);
    await client.write(new Uint8Array([1]));
    // Bounded: each turn polls the I/O driver, so the read completes in one
    // or two turns.
    for (let i = 0; i < 100 && !read; i++) await turn.take();
    assert.equal(read, true);
    await pending;
  } finally {
    turn.close();
    turn.close();
  }
  await assert.rejects(() => turn.take(), /closed EventLoopTurn/);
});

Deno.test("EventLoopTurn.runtimeEpollFds() names this runtime's epoll, which watches the doorbell", async () => {
  const turn = await EventLoopTurn.open();
  try {
    const fds = turn.runtimeEpollFds();
    assert.ok(fds.length >= 1);
    // All of them are epoll instances of this process.
    for (const fd of fds) assert.ok(epollFds().includes(fd));
    assert.deepEqual(turn.runtimeEpollFds(fds), []);
  } finally {
    turn.close();
  }
});
