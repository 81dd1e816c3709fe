import assert from "node:assert/strict";
import { onSignal, onStopSignals } from "./signals.ts";

/** Waits for `promise`, at most 5 s (a signal listener alone keeps no event loop alive). */
async function bounded<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("No signal within 5 s")),
          5000,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("onStopSignals() stops on the first signal and ignores an immediate repeat", async () => {
  let stops = 0;
  let seen = 0;
  let wake = Promise.withResolvers<void>();
  const removeStop = onStopSignals(["SIGUSR2"], () => stops++, {
    onForce: () =>
      assert.fail("a repeat within a second must not force the exit"),
  });
  const removeCount = onSignal("SIGUSR2", () => {
    seen++;
    wake.resolve();
  });
  try {
    Deno.kill(Deno.pid, "SIGUSR2");
    await bounded(wake.promise);
    wake = Promise.withResolvers<void>();
    Deno.kill(Deno.pid, "SIGUSR2");
    await bounded(wake.promise);
    assert.equal(seen, 2);
    assert.equal(stops, 1);
  } finally {
    removeStop();
    removeCount();
  }
});

Deno.test("onSignal() returns a function that stops listening", async () => {
  let calls = 0;
  const keep = Promise.withResolvers<void>();
  const remove = onSignal("SIGUSR2", () => calls++);
  // A second listener keeps SIGUSR2 handled (its default action kills).
  const removeKeeper = onSignal("SIGUSR2", () => keep.resolve());
  try {
    remove();
    Deno.kill(Deno.pid, "SIGUSR2");
    await bounded(keep.promise);
    assert.equal(calls, 0);
  } finally {
    removeKeeper();
  }
});
