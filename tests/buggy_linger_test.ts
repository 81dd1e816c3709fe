/**
 * `--buggy` ends connections as buggy-tcpserver does, seen from the client:
 * each `--linger` / `-L` setting against a normal close and every crash.
 */
import assert from "node:assert/strict";
import { bytes, connect, ServerProcess, waitFor, within } from "./_helpers.ts";

/** What the client saw: an RST, a FIN, or nothing (the server kept the socket, which reached CLOSE_WAIT). */
type Ending = "RST" | "FIN" | "CLOSE_WAIT";

/** What each case sends; `null` is a half-close (the original reads 0 and closes). */
const CASES: Record<string, string | null> = {
  "close": "close",
  "bug1": "bug1",
  "pingpong": "pingpong",
  "\\n": "\n",
  "ab": "ab",
  "big\\n": "big\n",
  "half-close": null,
};

/** The original's outcome per command line. */
const MODES: { args: string[]; ending: Ending }[] = [
  { args: [], ending: "RST" },
  { args: ["--linger=-1"], ending: "FIN" },
  { args: ["--linger=5"], ending: "FIN" },
  { args: ["-L", "1"], ending: "CLOSE_WAIT" },
];

/** The TCP state of the server's socket for one client port, from `ss`; "" once the socket is gone. */
async function serverSideState(
  serverPort: number,
  clientPort: number,
): Promise<string> {
  const out = await new Deno.Command("ss", {
    args: ["-tanH", `( sport = :${serverPort} and dport = :${clientPort} )`],
  }).output();
  if (!out.success) throw new Error("Cannot run ss");
  return new TextDecoder().decode(out.stdout).trim().split(/\s+/)[0] ?? "";
}

/**
 * Polls `ss` until the server's socket is in `state`. The kernel sends no
 * event when a socket changes state, so polling is the only way; bounded
 * in tries and time.
 */
async function waitForState(
  serverPort: number,
  clientPort: number,
  state: string,
): Promise<string> {
  let seen = "";
  try {
    await waitFor(
      async () =>
        (seen = await serverSideState(serverPort, clientPort)) === state,
      {
        what: `port ${clientPort}'s server side in ${state}`,
        ms: 2000,
        intervalMs: 50,
        tries: 40,
      },
    );
  } catch {
    // The caller reports the state it was left in instead.
  }
  return seen;
}

/**
 * Sends one case on `conn` and reports how the server ended it. The
 * server's log line for the end comes after its close, so from then on
 * the server's socket state tells apart "closed" (FIN or RST on its way)
 * from "kept".
 */
async function observe(
  server: ServerProcess,
  conn: Deno.TcpConn,
  send: string | null,
): Promise<string> {
  const port = conn.localAddr.port;
  let settled = false;
  const read = conn.read(new Uint8Array(16)).then(
    (n) => n === null ? "FIN" : `${n} bytes`,
    (error: unknown) =>
      error instanceof Deno.errors.ConnectionReset
        ? "RST"
        : `read failed: ${error}`,
  ).finally(() => settled = true);
  try {
    if (send === null) await conn.closeWrite();
    else await conn.write(bytes(send));
    await server.waitForLine(new RegExp(`\\(port ${port}\\) .*: `), 10000);
    const state = await serverSideState(server.port, port);
    if (state !== "ESTAB" && state !== "CLOSE-WAIT") {
      return await within(5000, `the end of port ${port}`, read);
    }
    // The server kept the socket: nothing may have reached the client.
    if (settled) return `kept, yet the client read ${await read}`;
    if (state === "ESTAB") await conn.closeWrite();
    const final = await waitForState(server.port, port, "CLOSE-WAIT");
    return final === "CLOSE-WAIT" ? "CLOSE_WAIT" : `kept in ${final}`;
  } finally {
    conn.close();
    await read;
  }
}

Deno.test("--buggy ends a normal close and every crash as the original does, for --linger 0, -1, 5 and -L 1", async () => {
  const observed: Record<string, Record<string, string>> = {};
  const expected: Record<string, Record<string, string>> = {};
  // One server per setting, all cases at once: the slowest (bug1) sets the pace.
  const runs = await Promise.allSettled(MODES.map(async ({ args, ending }) => {
    const mode = args.join(" ") || "default";
    expected[mode] = Object.fromEntries(
      Object.keys(CASES).map((name) => [name, ending]),
    );
    await using server = await ServerProcess.start(["--buggy", ...args]);
    // Every connection open before any ends, so no client port repeats in the log.
    const conns = await Promise.all(
      Object.keys(CASES).map(() => connect(server.port)),
    );
    try {
      const endings = await Promise.all(
        Object.values(CASES).map((send, i) => observe(server, conns[i]!, send)),
      );
      observed[mode] = Object.fromEntries(
        Object.keys(CASES).map((name, i) => [name, endings[i]!]),
      );
    } finally {
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // observe() closed it already.
        }
      }
    }
  }));
  // Every server is gone by now; report the first failure to start or talk.
  for (const run of runs) if (run.status === "rejected") throw run.reason;
  assert.deepEqual(observed, expected);
});
