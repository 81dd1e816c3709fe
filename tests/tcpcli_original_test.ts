/**
 * tcpcli against a stand-in for the original tcpservd 1.0_0: its bytes, its
 * write pattern, its close, and its death by SIGPIPE when a client leaves
 * while it is still in its command loop.
 */
import assert from "node:assert/strict";
import { probe } from "../client/mod.ts";
import { runTcpcli, within } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// Bounds of the stand-in's loops: far above what any test needs.
const MAX_SESSIONS = 16;
const MAX_LINES = 64;

/**
 * How one session of the original ended: `quit` (it left its loop after a
 * line with "quit" and closed), `aborted` (its `errout`: a send shorter
 * than BUFSIZ, or a failed recv; it closes and serves the next client), or
 * `died` (SIGPIPE: the process is gone).
 */
type SessionEnd = "quit" | "aborted" | "died";

/**
 * The original tcpservd 1.0_0, as its source behaves, one client at a time:
 *
 * - on accept, the prompt `>` (fprintf + fflush: a failed write is ignored);
 * - while the last line had no "quit": one recv of up to BUFSIZ bytes (at
 *   end of file it reads nothing and carries on, as the original does);
 *   `setbad`, `setgood`, `getstatus` (substrings, in that order): one send
 *   of 1024 bytes, the text padded with NULs; anything else: echoed in one
 *   send of BUFSIZ bytes; a send that returns anything but BUFSIZ goes to
 *   `errout` (close); then the prompt again;
 * - a write that fails with EPIPE would kill the original (SIGPIPE): the
 *   stand-in records it and stops accepting, as the dead process would.
 *
 * With glibc's BUFSIZ (8192) a getstatus reply is followed by the close and
 * nothing else; with 1024 (the systems the original was written for) by the
 * prompt. The commands a probe never sends (help, hostname, version,
 * startloop) are echoed here.
 */
class OriginalTcpservd implements AsyncDisposable {
  state: "GOOD" | "BAD";
  /** What each finished session ended with, in order. */
  readonly sessions: SessionEnd[] = [];
  /** Each recv's bytes as a C string would read them. */
  readonly received: string[] = [];
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  readonly #bufsiz: number;
  readonly #serving: Promise<void>;
  readonly #waiters = new Set<() => void>();
  #conn: Deno.TcpConn | undefined;

  constructor(
    options: { state?: "GOOD" | "BAD"; bufsiz?: 8192 | 1024 } = {},
  ) {
    // The original starts BAD.
    this.state = options.state ?? "BAD";
    this.#bufsiz = options.bufsiz ?? 8192;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.#listener.addr.port;
    this.#serving = this.#serve();
  }

  /** Whether the original would have died of SIGPIPE. */
  get died(): boolean {
    return this.sessions.includes("died");
  }

  /** Waits for session `index` (from 0) to end; says how it ended. */
  async sessionEnd(index: number): Promise<SessionEnd> {
    while (this.sessions.length <= index) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.add(resolve);
      try {
        await promise;
      } finally {
        this.#waiters.delete(resolve);
      }
    }
    return this.sessions[index]!;
  }

  async #serve(): Promise<void> {
    for (let i = 0; i < MAX_SESSIONS; i++) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // Disposed.
      }
      this.#conn = conn;
      const end = await this.#session(conn).catch((): SessionEnd => "aborted");
      closeQuietly(conn);
      this.#conn = undefined;
      this.sessions.push(end);
      for (const wake of this.#waiters) wake();
      if (end === "died") {
        closeQuietly(this.#listener);
        return;
      }
    }
  }

  async #session(conn: Deno.TcpConn): Promise<SessionEnd> {
    if (await this.#fprintf(conn, ">") === "died") return "died";
    const netibuf = new Uint8Array(this.#bufsiz);
    let line = "";
    for (let i = 0; i < MAX_LINES && !line.includes("quit"); i++) {
      netibuf.fill(0);
      let n: number | null;
      try {
        n = await conn.read(netibuf);
      } catch {
        return "aborted"; // recv() == -1: errout.
      }
      const nul = netibuf.indexOf(0);
      line = decoder.decode(
        netibuf.subarray(0, nul < 0 ? netibuf.length : nul),
      );
      if (n !== null) this.received.push(line);
      let text: string | undefined;
      if (line.includes("setbad")) {
        this.state = "BAD";
        text = "Status is setbad\n";
      } else if (line.includes("setgood")) {
        this.state = "GOOD";
        text = "Status is setgood\n";
      } else if (line.includes("getstatus")) {
        text = `${this.state}\n`;
      }
      let packet: Uint8Array;
      if (text === undefined) {
        packet = netibuf;
      } else {
        packet = new Uint8Array(1024);
        encoder.encodeInto(text, packet);
      }
      const sent = await this.#send(conn, packet);
      if (sent === "died") return "died";
      if (sent !== this.#bufsiz) return "aborted";
      if (await this.#fprintf(conn, ">") === "died") return "died";
    }
    return "quit";
  }

  /** send(): the byte count, -1 on an error, "died" on EPIPE. */
  async #send(
    conn: Deno.TcpConn,
    bytes: Uint8Array,
  ): Promise<number | "died"> {
    try {
      for (let off = 0; off < bytes.length;) {
        off += await conn.write(bytes.subarray(off));
      }
      return bytes.length;
    } catch (error) {
      return error instanceof Deno.errors.BrokenPipe ? "died" : -1;
    }
  }

  /** fprintf() + fflush(): errors are ignored, but EPIPE kills. */
  async #fprintf(conn: Deno.TcpConn, text: string): Promise<"died" | void> {
    if (await this.#send(conn, encoder.encode(text)) === "died") return "died";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    closeQuietly(this.#listener);
    if (this.#conn) closeQuietly(this.#conn);
    await this.#serving;
  }
}

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

/** The probe's own measure of its time, from tcpcli's text output. */
function probeSeconds(stdout: string): number {
  const match = stdout.match(/ time=(\d+\.\d+)s$/m);
  assert.ok(match, stdout);
  return Number(match[1]);
}

Deno.test("stand-in of tcpservd 1.0: dies of SIGPIPE when a client closes at the prompt", async () => {
  // Proves the stand-in's SIGPIPE check can fire: the original's fate when
  // a client leaves while it waits for a command.
  await using original = new OriginalTcpservd({ state: "GOOD" });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: original.port,
  });
  try {
    const prompt = new Uint8Array(8);
    assert.equal(await conn.read(prompt), 1);
    assert.equal(prompt[0], 0x3e);
  } finally {
    conn.close();
  }
  assert.equal(
    await within(5000, "the session's end", original.sessionEnd(0)),
    "died",
  );
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port: original.port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("tcpcli exits 0 at once against tcpservd 1.0 saying GOOD, and it survives", async () => {
  await using original = new OriginalTcpservd({ state: "GOOD" });
  const result = await runTcpcli([
    "-t",
    "5",
    "127.0.0.1",
    String(original.port),
  ]);
  // Its send of 1024 bytes is short of BUFSIZ: it closes, and lives on.
  const end = await within(5000, "the session's end", original.sessionEnd(0));
  assert.deepEqual(
    { code: result.code, end },
    { code: 0, end: "aborted" },
    result.stdout + result.stderr,
  );
  assert.match(result.stdout, /^GOOD 127\.0\.0\.1:\d+ time=/);
  // Read from the reply and the close, not from the 5 s deadline.
  assert.ok(probeSeconds(result.stdout) < 2, result.stdout);
  assert.deepEqual(original.received, ["getstatus\n"]);
  // Still serving: the next probe is answered too.
  const again = await probe("127.0.0.1", original.port, { timeoutMs: 5000 });
  assert.equal(again.status, "GOOD", again.detail);
  assert.equal(
    await within(5000, "the second session's end", original.sessionEnd(1)),
    "aborted",
  );
  assert.equal(original.died, false);
});

Deno.test("tcpcli exits 1 at once against tcpservd 1.0 saying BAD, and it survives", async () => {
  await using original = new OriginalTcpservd();
  const result = await runTcpcli([
    "-t",
    "5",
    "127.0.0.1",
    String(original.port),
  ]);
  const end = await within(5000, "the session's end", original.sessionEnd(0));
  assert.deepEqual(
    { code: result.code, end },
    { code: 1, end: "aborted" },
    result.stdout + result.stderr,
  );
  assert.match(result.stdout, /^BAD 127\.0\.0\.1:\d+ time=/);
  assert.ok(probeSeconds(result.stdout) < 2, result.stdout);
  assert.equal(original.died, false);
});

Deno.test("tcpcli ends a tcpservd 1.0 that prompts after its reply (BUFSIZ 1024) with quit, and it survives", async () => {
  await using original = new OriginalTcpservd({ state: "GOOD", bufsiz: 1024 });
  const result = await runTcpcli([
    "-t",
    "5",
    "127.0.0.1",
    String(original.port),
  ]);
  const end = await within(5000, "the session's end", original.sessionEnd(0));
  assert.deepEqual(
    { code: result.code, end },
    { code: 0, end: "quit" },
    result.stdout + result.stderr,
  );
  assert.ok(probeSeconds(result.stdout) < 2, result.stdout);
  assert.deepEqual(original.received, ["getstatus\n", "quit\n"]);
  assert.equal(original.died, false);
});

Deno.test("tcpcli -c setbad flips tcpservd 1.0, exits 0 at its close, and it survives", async () => {
  await using original = new OriginalTcpservd({ state: "GOOD" });
  const result = await runTcpcli([
    "-t",
    "5",
    "-c",
    "setbad",
    "127.0.0.1",
    String(original.port),
  ]);
  const end = await within(5000, "the session's end", original.sessionEnd(0));
  assert.deepEqual(
    { code: result.code, end, state: original.state },
    { code: 0, end: "aborted", state: "BAD" },
    result.stderr,
  );
  // The reply without its NUL padding.
  assert.equal(result.stdout, "Status is setbad\n");
});

Deno.test("tcpcli -c says tcpservd 1.0 ended the session before the next command", async () => {
  await using original = new OriginalTcpservd({ state: "GOOD" });
  const result = await runTcpcli([
    "-t",
    "5",
    "-c",
    "setbad",
    "-c",
    "getstatus",
    "127.0.0.1",
    String(original.port),
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /the server closed the connection after "setbad" \(the original tcpservd 1\.0 does/,
  );
  assert.equal(
    await within(5000, "the session's end", original.sessionEnd(0)),
    "aborted",
  );
});
