import assert from "node:assert/strict";
import { buggySession } from "./buggy_session.ts";
import { TcpServer } from "../net/tcp_server.ts";
import { readExactly } from "../tests/_helpers.ts";

const encoder = new TextEncoder();

function startServer(): TcpServer {
  return new TcpServer(buggySession(), { hostname: "127.0.0.1", port: 0 });
}

/** The original's reply to `command`: two 4096-byte blocks, `i` → `o`, then NULs. */
function expectedBig(command: string): Uint8Array {
  const block = new Uint8Array(4096);
  block.set(encoder.encode(command));
  block[1] = 0x6f;
  const reply = new Uint8Array(8192);
  reply.set(block);
  reply.set(block, 4096);
  return reply;
}

Deno.test("buggySession() answers big without a final line end with two 4096-byte blocks: the command as bog, then NULs", async () => {
  await using server = startServer();
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  // One connection: the session stays open after each reply, as the original's.
  for (const command of ["big", "bigfoot!", "big\nxy", "big\r"]) {
    await conn.write(encoder.encode(command));
    assert.deepEqual(
      await readExactly(conn, 8192),
      expectedBig(command),
      JSON.stringify(command),
    );
  }
  // Nothing more came after the 8192 bytes: the next reply is ping's.
  await conn.write(encoder.encode("ping"));
  assert.deepEqual(await readExactly(conn, 4), encoder.encode("pong"));
});

Deno.test("buggySession() crashes (resets, with linger 0) on big with a line end", async () => {
  await using server = startServer();
  for (const command of ["big\n", "big\r\n", "bigbig\r\n"]) {
    using conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    await conn.write(encoder.encode(command));
    await assert.rejects(
      readExactly(conn, 1),
      Deno.errors.ConnectionReset,
      JSON.stringify(command),
    );
  }
});
