/**
 * The shared test kit, re-exported by `_helpers.ts`: one bounded poll
 * (`waitFor`), fd counting that settles (`fdCountSettled`), a bounded
 * `readExactly`, a connected TCP pair (`tcpPair`) for unit tests, and a
 * throwaway server (`startTestServer`) with a tcpservd stand-in
 * (`fakeTcpservd`). Processes: `CommandProcess`/`ServerProcess` in
 * `_helpers.ts`.
 *
 * Polling is only for conditions that send no event (a socket's TCP state,
 * a process's fd table, a pid's exit); everything else should await the
 * event itself.
 */
import { LineReader } from "../common/line_reader.ts";
import { writeAll } from "../common/write_all.ts";

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** What is awaited, for the failure message. */
  what: string;
  /** Give up after this long (default 5000 ms). */
  ms?: number;
  /** Pause between tries (default 20 ms). */
  intervalMs?: number;
  /** Give up after this many tries (default: ms / intervalMs + 2). */
  tries?: number;
}

/**
 * Calls `check` until it returns a truthy value and resolves with that
 * value. Fails with an error naming `what` once `ms` have passed or
 * `tries` tries were made, whichever comes first; a check that hangs is
 * cut off at the deadline too.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<NonNullable<T>> {
  const ms = options.ms ?? 5000;
  const intervalMs = options.intervalMs ?? 20;
  const tries = options.tries ?? Math.ceil(ms / Math.max(intervalMs, 1)) + 2;
  const started = performance.now();
  const limit = started + ms;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), ms);
  });
  let last: unknown = undefined;
  try {
    for (let i = 0; i < tries; i++) {
      const result = await Promise.race([
        Promise.resolve(check()).then((value) => ({ value })),
        expired,
      ]);
      if (result === "expired") break;
      last = result.value;
      if (result.value) return result.value as NonNullable<T>;
      if (performance.now() >= limit) break;
      const pause = Math.min(intervalMs, limit - performance.now());
      const slept = await Promise.race([
        new Promise<"slept">((resolve) => {
          const t = setTimeout(() => resolve("slept"), pause);
          expired.then(() => clearTimeout(t));
        }),
        expired,
      ]);
      if (slept === "expired") break;
    }
  } finally {
    clearTimeout(timer);
  }
  const took = Math.round(performance.now() - started);
  throw new Error(
    `Timed out after ${took} ms (limit ${ms} ms, ${tries} tries) waiting for ${options.what}; last check gave ${
      JSON.stringify(last) ?? String(last)
    }`,
  );
}

/** A connected pair of TCP conns on 127.0.0.1; disposing closes both. */
export interface TcpPair extends AsyncDisposable {
  /** The side that connected. */
  client: Deno.TcpConn;
  /** The side the listener accepted. */
  server: Deno.TcpConn;
}

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

/** Connects a fresh client to a fresh listener on 127.0.0.1 (bounded). */
export async function tcpPair(ms = 5000): Promise<TcpPair> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const connected = Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`No TCP pair within ${ms} ms`)),
      ms,
    );
  });
  try {
    const [server, client] = await Promise.race([
      Promise.all([accepted, connected]),
      expired,
    ]);
    return {
      client,
      server,
      [Symbol.asyncDispose]: () => {
        closeQuietly(client);
        closeQuietly(server);
        return Promise.resolve();
      },
    };
  } catch (error) {
    accepted.then(closeQuietly, () => {});
    connected.then(closeQuietly, () => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Counts a process's fds until the count is back to `limit` or below,
 * calling `nudge` before each recount (e.g. a round trip, so closes the
 * process has not read yet get read). Bounded in tries and time; resolves
 * with the last count, for the caller to assert on.
 */
export async function fdCountSettled(
  count: () => Promise<number>,
  limit: number,
  nudge: () => Promise<void>,
  options: { tries?: number; ms?: number } = {},
): Promise<number> {
  let last = await count();
  if (last <= limit) return last;
  try {
    await waitFor(async () => {
      await nudge();
      last = await count();
      return last <= limit;
    }, {
      what: `the fd count back to ${limit} or fewer`,
      tries: options.tries ?? 50,
      ms: options.ms ?? 15000,
      intervalMs: 0,
    });
  } catch {
    // The caller asserts on the count left.
  }
  return last;
}

/**
 * Reads exactly `size` bytes from `conn`; fails on EOF before them, or
 * after `ms` (a pending read is cut off too, but stays pending: after a
 * timeout, read that conn no more).
 */
export async function readExactly(
  conn: Deno.Conn,
  size: number,
  ms = 5000,
): Promise<Uint8Array> {
  const buf = new Uint8Array(size);
  let got = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`Timed out after ${ms} ms with ${got} of ${size} bytes`),
        ),
      ms,
    );
  });
  try {
    while (got < size) {
      const n = await Promise.race([conn.read(buf.subarray(got)), timeout]);
      if (n === null) throw new Error(`EOF after ${got} of ${size} bytes`);
      got += n;
    }
  } finally {
    clearTimeout(timer);
  }
  return buf;
}

/** A listener on 127.0.0.1 run by `startTestServer`. */
export interface TestServer extends AsyncDisposable {
  port: number;
  /** The connections accepted so far. */
  conns: Deno.TcpConn[];
}

/**
 * A listener on 127.0.0.1:0 that runs `handle` for each connection;
 * disposing closes the listener and every connection, then waits for the
 * handlers (which must end once their conn is closed).
 */
export function startTestServer(
  handle: (conn: Deno.TcpConn) => Promise<void>,
): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.TcpConn[] = [];
  const handlers: Promise<void>[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        handlers.push(handle(conn).catch(() => {}));
      }
    } catch {
      // Closed by the dispose.
    }
  })();
  return {
    port: listener.addr.port,
    conns,
    async [Symbol.asyncDispose]() {
      closeQuietly(listener);
      await accepting;
      for (const conn of conns) closeQuietly(conn);
      await Promise.allSettled(handlers);
    },
  };
}

const kitEncoder = new TextEncoder();
const kitDecoder = new TextDecoder();

/**
 * A tcpservd stand-in for `startTestServer`: greets with the prompt, answers
 * each line with the parts `answer(line)` gives (`fakeTcpservd("GOOD")`:
 * `getstatus` gets "GOOD\n> ", anything else is echoed before a prompt),
 * and `quit` with "QUIT\n" and a close. Records the lines in `received`.
 * Bounded: 100 lines per connection.
 */
export function fakeTcpservd(
  answer: string | ((line: string) => string[]),
  received: string[] = [],
): (conn: Deno.TcpConn) => Promise<void> {
  const parts = typeof answer === "string"
    ? (line: string) => [`${line === "getstatus" ? answer : line}\n> `]
    : answer;
  return async (conn) => {
    await writeAll(conn, kitEncoder.encode("> "));
    const reader = new LineReader(conn);
    for (let i = 0; i < 100; i++) {
      const read = await reader.readLine();
      if (read === null) return;
      const line = kitDecoder.decode(read.bytes);
      received.push(line);
      if (line === "quit") {
        await writeAll(conn, kitEncoder.encode("QUIT\n"));
        closeQuietly(conn);
        return;
      }
      for (const part of parts(line)) {
        await writeAll(conn, kitEncoder.encode(part));
      }
    }
  };
}

/**
 * Whether a C compiler is at /usr/bin/cc. Decided at load time, so tests
 * that check our constants and layouts against C can be marked `ignore`.
 */
export const HAS_CC: boolean = (() => {
  try {
    return Deno.statSync("/usr/bin/cc").isFile;
  } catch {
    return false;
  }
})();

/**
 * Compiles a C program with /usr/bin/cc, runs it, and returns its stdout;
 * fails with the compiler's message or the exit code. The temporary
 * directory is removed in any case.
 */
export async function runCProbe(source: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_c_probe_" });
  try {
    await Deno.writeTextFile(`${dir}/probe.c`, source);
    const build = await new Deno.Command("/usr/bin/cc", {
      args: ["-o", `${dir}/probe`, `${dir}/probe.c`],
      stdin: "null",
    }).output();
    if (build.code !== 0) {
      throw new Error(
        `cc failed: ${new TextDecoder().decode(build.stderr)}`,
      );
    }
    const run = await new Deno.Command(`${dir}/probe`, { stdin: "null" })
      .output();
    if (run.code !== 0) throw new Error(`The C probe exited ${run.code}`);
    return new TextDecoder().decode(run.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
