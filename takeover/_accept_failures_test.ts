import assert from "node:assert/strict";
import { type AcceptFailureLog, AcceptFailures } from "./_accept_failures.ts";

/** A log that keeps its lines, with the placeholders filled in. */
function recordingLog(): AcceptFailureLog & { lines: string[] } {
  const lines: string[] = [];
  const fill =
    (level: string) => (message: string, properties: Record<string, unknown>) =>
      lines.push(
        `${level} ${
          message.replace(/\{(\w+)\}/g, (_, key) => String(properties[key]))
        }`,
      );
  return { lines, error: fill("error"), info: fill("info") };
}

Deno.test("AcceptFailures logs an episode once when it starts and once, with the count, when it ends", () => {
  const log = recordingLog();
  let now = 0;
  const failures = new AcceptFailures("127.0.0.1:1234", {
    log,
    retryMs: 100,
    now: () => now,
  });
  failures.ended("recovered"); // no episode: nothing to say
  for (let i = 0; i < 50; i++, now += 100) {
    failures.failed(new Error("EMFILE"));
  }
  assert.equal(failures.count, 50);
  failures.ended("recovered");
  assert.equal(failures.count, 0);
  assert.deepEqual(log.lines, [
    "error cannot accept on 127.0.0.1:1234: EMFILE; retrying every 100 ms (logged again when it ends, or in a minute)",
    "info accepting on 127.0.0.1:1234 again after 50 failed accepts in 5.0 s",
  ]);
  // The next episode starts afresh.
  failures.failed(new Error("ENFILE"));
  failures.ended("stopped");
  assert.match(log.lines[2]!, /^error cannot accept on .*: ENFILE;/);
  assert.equal(
    log.lines[3],
    "info stopped accepting on 127.0.0.1:1234 after 1 failed accepts in 0.0 s",
  );
});

Deno.test("AcceptFailures reminds at most once a minute while an episode lasts", () => {
  const log = recordingLog();
  let now = 0;
  const failures = new AcceptFailures("x", {
    log,
    retryMs: 100,
    now: () => now,
  });
  // 150 s of failures, ten a second.
  for (let i = 0; i < 1500; i++, now += 100) failures.failed("EMFILE");
  assert.deepEqual(log.lines.map((line) => line.split(":")[0]), [
    "error cannot accept on x",
    "error still cannot accept on x",
    "error still cannot accept on x",
  ]);
  assert.match(
    log.lines[1]!,
    / 601 failed accepts in 60\.0 s; the last: EMFILE$/,
  );
});
