/**
 * The original tcpcli (3.0) against tcpservd. It reads one segment per step
 * with no timeout: the prompt, the reply to `getstatus\r\n`, the next
 * prompt, the reply to `quit\r\n`. The stand-in below does exactly those
 * four `recv`s of 8192 bytes (glibc's BUFSIZ), each bounded here so a
 * block shows as a failure instead of a hang.
 */
import assert from "node:assert/strict";
import { bytes, runTcpcli, ServerProcess } from "./_helpers.ts";

const decoder = new TextDecoder();

/** One `recv(s, buf, 8192, 0)`; `null` when it would still block after `ms`. */
async function recvOnce(
  conn: Deno.TcpConn,
  ms: number,
): Promise<string | null> {
  const buf = new Uint8Array(8192);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const blocked = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    const n = await Promise.race([conn.read(buf), blocked]);
    if (n === null) return null;
    return decoder.decode(buf.subarray(0, n));
  } finally {
    clearTimeout(timer);
  }
}

/** tcpcli 3.0's exchange; returns what each recv got (null: blocked). */
async function tcpcli3(port: number): Promise<(string | null)[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const got: (string | null)[] = [];
    got.push(await recvOnce(conn, 2000)); // the prompt
    await conn.write(bytes("getstatus\r\n"));
    got.push(await recvOnce(conn, 2000)); // the reply
    got.push(await recvOnce(conn, 1000)); // the next prompt
    if (got[2] === null) return got;
    await conn.write(bytes("quit\r\n"));
    got.push(await recvOnce(conn, 2000)); // quit's reply
    await conn.closeWrite();
    return got;
  } finally {
    conn.close();
  }
}

Deno.test("the original tcpcli blocks on tcpkit's framing (reply and prompt in one write)", async () => {
  await using server = await ServerProcess.start();
  const got = await tcpcli3(server.port);
  assert.equal(got[0], "> ");
  assert.equal(got[1], "GOOD\n> ");
  assert.equal(got[2], null, "the third recv should have had nothing to read");
});

Deno.test("tcpservd --framing original: the original tcpcli's four recvs all return, every time", async () => {
  await using server = await ServerProcess.start([
    "--framing",
    "original",
    "--initial-state",
    "bad",
  ]);
  for (let i = 0; i < 50; i++) {
    const got = await tcpcli3(server.port);
    assert.ok(
      got.every((g) => g !== null),
      `run ${i} blocked: ${JSON.stringify(got)}`,
    );
    assert.equal(got[0], "> ");
    assert.match(got[1]!, /^BAD\n\0+/);
  }
  // tcpkit's own probe reads the padded replies as well.
  const probe = await runTcpcli(["127.0.0.1", String(server.port)]);
  assert.equal(probe.code, 1, probe.stdout + probe.stderr);
  assert.match(probe.stdout, /^BAD /);
});
