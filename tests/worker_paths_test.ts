import assert from "node:assert/strict";
import { ask, ROOT, ServerProcess, session, taskArgs } from "./_helpers.ts";

Deno.test("tcpservd -w 2 starts its workers from a directory whose name needs escaping in a URL", async () => {
  const parent = await Deno.makeTempDir({ prefix: "tcpkit_paths_" });
  const copy = `${parent}/a dir %20 #1`;
  try {
    const cp = await new Deno.Command("cp", {
      args: ["-r", ROOT.replace(/\/$/, ""), copy],
    }).output();
    assert.equal(cp.code, 0);
    const args = taskArgs("tcpservd").map((a) =>
      a === "server/main.ts" ? `${copy}/server/main.ts` : a
    );
    await using server = await ServerProcess.start(
      [...args, "-w", "2", "-a", "127.0.0.1", "-p", "0"],
      { command: Deno.execPath(), cwd: parent },
    );
    await server.waitForLine(/2 workers ready/);
    const conn = await session(server.port);
    try {
      assert.equal(await ask(conn, "getstatus"), "GOOD\n");
    } finally {
      conn.close();
    }
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
