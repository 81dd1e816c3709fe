/**
 * iotcpd's SIGTERM under load, as a separate process over real sockets:
 * every connection it accepted gets its reply or `ERR` before the close,
 * never a bare FIN.
 */
import assert from "node:assert/strict";
import { within } from "./_helpers.ts";
import { IotcpdProcess } from "./_iotcpd_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How one client connection ended. */
type Outcome =
  | "replied" // the daemon's line, then EOF
  | "err" // ERR, then EOF
  | "silent" // EOF with no byte: the bug
  | "reset" // RST before any byte: never accepted (backlog, handshake)
  | "refused" // the listener was closed already
  | "wrong"; // anything else

interface Result {
  outcome: Outcome;
  detail: string;
}

/** Connects; the outcome instead when the connection does not open. */
async function open(port: number): Promise<Deno.TcpConn | Result> {
  try {
    return await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      return { outcome: "refused", detail: "" };
    }
    // The listener closed during the handshake (reset before Deno's
    // getpeername after connect: NotConnected).
    if (
      error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.NotConnected
    ) {
      return { outcome: "reset", detail: "" };
    }
    return { outcome: "wrong", detail: `connect: ${error}` };
  }
}

/** Sends `line`, reads to EOF, classifies, closes; never throws. */
async function request(conn: Deno.TcpConn, line: string): Promise<Result> {
  let text = "";
  try {
    await conn.write(encoder.encode(`${line}\n`));
    const buf = new Uint8Array(256);
    // Bounded: the longest wait is iotcpd's drain, far below 10 s.
    await within(
      10000,
      `the reply to ${line}`,
      (async () => {
        for (let n; (n = await conn.read(buf)) !== null;) {
          text += decoder.decode(buf.subarray(0, n));
        }
      })(),
    );
  } catch (error) {
    const reset = error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.BrokenPipe;
    if (reset && text === "") return { outcome: "reset", detail: "" };
    return { outcome: "wrong", detail: `${JSON.stringify(text)}: ${error}` };
  } finally {
    conn.close();
  }
  if (text === `${line}\n`) return { outcome: "replied", detail: "" };
  if (text === "ERR\n") return { outcome: "err", detail: "" };
  if (text === "") return { outcome: "silent", detail: line };
  return { outcome: "wrong", detail: JSON.stringify(text) };
}

Deno.test("iotcpd SIGTERM under load: every accepted client gets its reply or ERR, none a bare close", async () => {
  await using iotcpd = await IotcpdProcess.start(["-n", "4", "-d", "cat"]);
  const clients = 50;
  // The signal lands mid-load: after 1 s of it, and once replies flow.
  const loadMs = 1000;
  const minReplies = 500;
  const counts: Record<Outcome, number> = {
    replied: 0,
    err: 0,
    silent: 0,
    reset: 0,
    refused: 0,
    wrong: 0,
  };
  const odd: string[] = [];
  const count = (result: Result) => {
    counts[result.outcome]++;
    if (result.outcome === "silent" || result.outcome === "wrong") {
      odd.push(result.detail);
    }
  };
  // Resolves at the first refused connect: the listener is closed, so the
  // drain has begun.
  const closed = Promise.withResolvers<void>();
  let signalled = false;
  const started = performance.now();
  const stopBy = started + 30000;
  const client = async (c: number) => {
    // Bounded in count and in time; normally ends at the first refusal.
    for (let i = 0; i < 100_000 && performance.now() < stopBy; i++) {
      const conn = await open(iotcpd.port);
      const result = "outcome" in conn
        ? conn
        : await request(conn, `c${c} r${i}`);
      count(result);
      if (
        !signalled && counts.replied >= minReplies &&
        performance.now() - started >= loadMs
      ) {
        signalled = true;
        iotcpd.kill("SIGTERM");
      }
      if (result.outcome === "refused") {
        closed.resolve();
        return;
      }
    }
  };
  // Clients accepted long before the signal that send their line only once
  // the drain has begun: the drain must not cut them.
  const late = async (c: number) => {
    const conn = await open(iotcpd.port);
    if ("outcome" in conn) return count(conn);
    try {
      await within(35000, "the listener to close", closed.promise);
    } catch (error) {
      conn.close();
      throw error;
    }
    count(await request(conn, `late ${c}`));
  };
  const lateClients = 5;
  await Promise.all([
    ...Array.from({ length: lateClients }, (_, c) => late(c)),
    ...Array.from({ length: clients }, (_, c) => client(c)),
  ]);
  assert.ok(signalled, `only ${counts.replied} replies before the deadline`);
  assert.equal((await iotcpd.wait()).code, 0);
  const stopped = iotcpd.stderr.match(
    /stopped: (\d+) requests, (\d+) replied, .*?, (\d+) without a request/,
  );
  assert.ok(stopped, iotcpd.stderr.slice(-2000));
  const accepted = Number(stopped[1]) + Number(stopped[3]);
  const summary = JSON.stringify({ ...counts, accepted });
  assert.deepEqual(odd.slice(0, 5), [], summary);
  assert.equal(counts.silent, 0, summary);
  assert.equal(counts.wrong, 0, summary);
  // Every connection iotcpd accepted was answered, and only those.
  assert.equal(counts.replied + counts.err, accepted, summary);
  assert.equal(counts.refused, clients, summary);
});
