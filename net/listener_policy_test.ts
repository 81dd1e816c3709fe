import assert from "node:assert/strict";
import { waitFor } from "../tests/_kit.ts";
import {
  ACCEPT_RETRY_MS,
  type ListenerLimits,
  ListenerPolicy,
  type TrackedConn,
} from "./listener_policy.ts";

interface FakeConn extends TrackedConn {
  activity: number;
  busy: boolean;
  writingSince: number | undefined;
}

function fakeConn(id: number): FakeConn {
  return {
    id,
    closed: false,
    activity: 0,
    busy: false,
    writingSince: undefined,
    idleSeen: 0,
    idleSince: 0,
  };
}

/** A policy whose actions are recorded, as an engine would see them. */
function recorded(limits: ListenerLimits) {
  const events: string[] = [];
  const policy = new ListenerPolicy<FakeConn>(limits, {
    setAccepting: (on) => events.push(on ? "accept on" : "accept off"),
    retire: () => events.push("retire"),
    closeIdle: (conn) => {
      events.push(`idle ${conn.id}`);
      policy.closed(conn);
    },
    resetStalled: (conn) => {
      events.push(`reset ${conn.id}`);
      policy.closed(conn);
    },
    peer: (conn) => `peer ${conn.id}`,
  });
  return { policy, events };
}

Deno.test("ListenerPolicy refuses past maxConns under the refuse policy, and counts", () => {
  const { policy, events } = recorded({ maxConns: 2 });
  try {
    const a = fakeConn(policy.nextId());
    assert.equal(policy.refuses(() => "a"), false);
    policy.opened(a);
    policy.opened(fakeConn(policy.nextId()));
    assert.equal(policy.refuses(() => "c"), true);
    assert.equal(policy.refusedCount, 1);
    assert.equal(policy.acceptedCount, 2);
    policy.closed(a);
    assert.equal(policy.refuses(() => "d"), false);
    assert.deepEqual(events, [], "the refuse policy never stops accepting");
  } finally {
    policy.dispose();
  }
});

Deno.test("ListenerPolicy holds accepting at maxConns under the pause policy, and resumes", () => {
  const { policy, events } = recorded({ maxConns: 1, maxConnsPolicy: "pause" });
  try {
    const a = fakeConn(policy.nextId());
    policy.opened(a);
    assert.equal(policy.accepting, false);
    policy.closed(a);
    policy.closed(a); // twice: counted once
    assert.equal(policy.accepting, true);
    assert.deepEqual(events, ["accept off", "accept on"]);
  } finally {
    policy.dispose();
  }
});

Deno.test("ListenerPolicy retires after maxTotalConns", () => {
  const { policy, events } = recorded({ maxTotalConns: 2 });
  try {
    policy.opened(fakeConn(policy.nextId()));
    assert.equal(policy.retiring, false);
    policy.opened(fakeConn(policy.nextId()));
    assert.equal(policy.retiring, true);
    assert.equal(policy.listening, false);
    assert.deepEqual(events, ["retire"]);
  } finally {
    policy.dispose();
  }
});

Deno.test("ListenerPolicy skips a connection reset in the backlog, backs off after EMFILE", async () => {
  const { policy, events } = recorded({});
  try {
    const gone = new Deno.errors.NotConnected("getpeername");
    assert.equal(policy.acceptFailed(gone), "next");
    assert.equal(policy.accepting, true);
    const started = performance.now();
    assert.equal(policy.acceptFailed(new Error("EMFILE")), "back-off");
    assert.equal(policy.accepting, false);
    await waitFor(() => policy.accepting, { what: "the back-off to end" });
    assert.ok(performance.now() - started >= ACCEPT_RETRY_MS - 5);
    assert.deepEqual(events, ["accept off", "accept on"]);
  } finally {
    policy.dispose();
  }
});

Deno.test("ListenerPolicy holds accepting while stalled, under any other hold", () => {
  const { policy, events } = recorded({ maxConns: 1, maxConnsPolicy: "pause" });
  try {
    policy.setStalled(true);
    const a = fakeConn(policy.nextId());
    policy.opened(a); // the limit too
    policy.setStalled(false);
    assert.equal(policy.accepting, false, "the limit still holds");
    policy.closed(a);
    assert.equal(policy.accepting, true);
    assert.deepEqual(events, ["accept off", "accept on"]);
  } finally {
    policy.dispose();
  }
});

Deno.test("ListenerPolicy's sweep closes the idle, resets a non-reader, spares the busy and the active", async () => {
  const { policy, events } = recorded({ idleTimeoutMs: 100 });
  try {
    const idle = fakeConn(policy.nextId());
    const stalled = fakeConn(policy.nextId());
    const busy = fakeConn(policy.nextId());
    const active = fakeConn(policy.nextId());
    for (const conn of [idle, stalled, busy, active]) policy.opened(conn);
    stalled.activity = 5;
    stalled.writingSince = performance.now();
    busy.busy = true;
    const keepActive = setInterval(() => active.activity++, 10);
    try {
      await waitFor(() => events.length >= 2, { what: "two sweeps to act" });
    } finally {
      clearInterval(keepActive);
    }
    assert.deepEqual(events.toSorted(), ["idle 1", "reset 2"]);
    assert.equal(policy.conns.size, 2);
  } finally {
    policy.dispose();
  }
});

Deno.test("ListenerPolicy refuses limits that are not numbers, negative, or fractional counts", () => {
  const bad: ListenerLimits[] = [
    { maxConns: Number.NaN },
    { maxConns: -1 },
    { maxConns: 1.5 },
    { maxTotalConns: Number.POSITIVE_INFINITY },
    { idleTimeoutMs: -5 },
    { drainTimeoutMs: Number.NaN },
  ];
  for (const limits of bad) {
    assert.throws(() => recorded(limits), RangeError, JSON.stringify(limits));
  }
  recorded({ maxConns: 0, maxTotalConns: 0, idleTimeoutMs: 0 }).policy
    .dispose();
});
