import assert from "node:assert/strict";
import type { Line } from "../common/mod.ts";
import { Daemon, type DaemonEnd, DaemonSpawnError } from "./daemon.ts";
import { isRunning, waitFor } from "../tests/_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Collects a daemon's lines and its end (wait on them with `waitFor`). */
class Collector {
  readonly lines: string[] = [];
  end: DaemonEnd | undefined;
  readonly onLine = (line: Line): void => {
    this.lines.push(decoder.decode(line.bytes));
  };
  readonly onEnd = (why: DaemonEnd): void => {
    this.end = why;
  };
}

Deno.test("Daemon writes a request to cat and reads its reply line", async () => {
  const seen = new Collector();
  const daemon = new Daemon(["cat"], seen);
  daemon.send(encoder.encode("hello\n"));
  daemon.send(encoder.encode("a\0b\r\n"));
  await waitFor(() => seen.lines.length === 2, {
    what: "2 lines from the daemon",
    intervalMs: 10,
  });
  assert.deepEqual(seen.lines, ["hello", "a\0b"]);
  const status = await daemon.stop(500);
  assert.equal(status.code, 0, "cat exits at end of file on stdin");
  assert.ok(seen.end !== undefined);
  assert.equal(daemon.exitStatus?.code, 0);
});

Deno.test("Daemon delivers a reply written just before the exit", async () => {
  const seen = new Collector();
  const daemon = new Daemon(["sh", "-c", 'read l; echo "last $l"'], seen);
  daemon.send(encoder.encode("x\n"));
  const status = await daemon.status;
  assert.deepEqual(seen.lines, ["last x"]);
  assert.equal(status.code, 0);
  assert.ok(seen.end === "stdout-closed" || seen.end === "exited");
});

Deno.test("Daemon ends with reply-too-long past maxLine without a newline", async () => {
  const seen = new Collector();
  const daemon = new Daemon(
    ["sh", "-c", "head -c 100 /dev/zero | tr '\\0' x; exec sleep 60"],
    { maxLine: 16, onLine: seen.onLine, onEnd: seen.onEnd },
  );
  await waitFor(() => seen.end !== undefined, {
    what: "the daemon's end",
    intervalMs: 10,
  });
  assert.equal(seen.end, "reply-too-long");
  assert.deepEqual(seen.lines, []);
  const status = await daemon.kill(200);
  assert.equal(status.signal, "SIGTERM");
});

Deno.test("Daemon.kill() signals the whole process group, SIGKILL after the grace", async () => {
  const seen = new Collector();
  // Ignores SIGTERM, and so does its background sleep.
  const daemon = new Daemon(
    ["sh", "-c", "trap '' TERM; sleep 60 & echo $!; wait; wait"],
    seen,
  );
  await waitFor(() => seen.lines.length === 1, {
    what: "a line from the daemon",
    intervalMs: 10,
  });
  const sleeper = Number(seen.lines[0]);
  assert.ok(await isRunning(sleeper));
  const started = performance.now();
  const status = await daemon.kill(150);
  assert.ok(performance.now() - started >= 140, "TERM was ignored");
  assert.equal(status.signal, "SIGKILL");
  // An orphaned sleep is reaped by init: no event to await, so poll.
  await waitFor(async () => !(await isRunning(sleeper)), {
    what: "the group's sleep to die",
    ms: 2000,
    intervalMs: 50,
  }).catch(() => {});
  assert.equal(await isRunning(sleeper), false, "the group's sleep died too");
});

Deno.test("Daemon.stop() escalates to SIGTERM when end of file is ignored", async () => {
  const daemon = new Daemon(["sleep", "60"]);
  const status = await daemon.stop(100);
  assert.equal(status.signal, "SIGTERM");
  assert.equal(await daemon.stop(), status, "safe to call twice");
  await daemon.close();
});

Deno.test("Daemon.killNow() kills at once", async () => {
  const daemon = new Daemon(["sleep", "60"]);
  daemon.killNow();
  const status = await daemon.status;
  assert.equal(status.signal, "SIGKILL");
});

Deno.test("Daemon runs behind a wrapper with the same pid", async () => {
  const seen = new Collector();
  const daemon = new Daemon(["sh", "-c", "echo $$; cat"], {
    onLine: seen.onLine,
    wrapper: ["env", "--"],
  });
  await waitFor(() => seen.lines.length === 1, {
    what: "a line from the daemon",
    intervalMs: 10,
  });
  assert.equal(Number(seen.lines[0]), daemon.pid, "env execs, keeping the pid");
  await daemon.stop(500);
});

Deno.test("Daemon throws DaemonSpawnError for a missing program", () => {
  assert.throws(
    () => new Daemon(["no-such-program-iotcpd"]),
    (error: unknown) =>
      error instanceof DaemonSpawnError &&
      error.cause instanceof Deno.errors.NotFound &&
      error.command[0] === "no-such-program-iotcpd",
  );
  assert.throws(() => new Daemon([]), TypeError);
});

Deno.test("Daemon is dirty when bytes come after the last reply it owes, and not before", async () => {
  const seen = new Collector();
  // Each line with whether the daemon was dirty when it was delivered.
  const delivered: [string, boolean][] = [];
  let strays = 0;
  // "two" answers with two lines in one write; anything else with one.
  const daemon: Daemon = new Daemon([
    "sh",
    "-c",
    'while read -r l; do case $l in two) printf "a\\nb\\n" ;; *) echo "$l" ;; esac; done',
  ], {
    onLine: (line) => {
      delivered.push([decoder.decode(line.bytes), daemon.dirty]);
      seen.onLine(line);
    },
    onStray: () => strays++,
  });
  try {
    // Two requests in flight: what follows the first reply is the second.
    daemon.send(encoder.encode("x\n"));
    daemon.send(encoder.encode("y\n"));
    await waitFor(() => seen.lines.length === 2, {
      what: "2 lines from the daemon",
      intervalMs: 10,
    });
    assert.equal(daemon.dirty, false);
    daemon.send(encoder.encode("two\n"));
    await waitFor(() => seen.lines.length >= 3, {
      what: "3 lines from the daemon",
      intervalMs: 10,
    });
    // The reply is delivered, and the daemon is dirty by then already.
    assert.deepEqual(delivered.slice(0, 3), [
      ["x", false],
      ["y", false],
      ["a", true],
    ]);
    assert.equal(daemon.strayBytes, 2);
    assert.equal(daemon.strayLines, 1);
    assert.equal(strays, 1);
  } finally {
    await daemon.stop(200);
  }
});

Deno.test("Daemon is dirty on output with no request pending, newline or not", async () => {
  let strays = 0;
  const seen = new Collector();
  const daemon = new Daemon(["sh", "-c", "printf 'banner'; exec cat"], {
    ...seen,
    onStray: () => {
      strays++;
      seen.onEnd("exited"); // wakes the collector
    },
  });
  try {
    await waitFor(() => strays === 1, {
      what: "one stray line",
      intervalMs: 10,
    });
    assert.equal(daemon.dirty, true);
    assert.equal(daemon.strayBytes, 6);
    assert.equal(daemon.strayLines, 0);
    assert.deepEqual(seen.lines, []);
  } finally {
    await daemon.stop(200);
  }
});

Deno.test("Daemon.discardOutput() stops a daemon flooding its stdout (EPIPE), no reads", async () => {
  const daemon = new Daemon(["sh", "-c", "exec yes"]);
  try {
    daemon.discardOutput();
    // yes dies of SIGPIPE (or exits on EPIPE) once nobody reads the pipe.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      daemon.status,
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), 5000)
      ),
    ]);
    clearTimeout(timer);
    assert.ok(status !== undefined, "yes still runs");
    assert.ok(
      status.signal === "SIGPIPE" || status.code !== 0,
      JSON.stringify(status),
    );
  } finally {
    daemon.killNow();
    await daemon.status;
  }
});
