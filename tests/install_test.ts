/**
 * The commands as users install them: `deno task install` (deno install -g
 * with the task's permission flags), then run from the install root.
 */
import assert from "node:assert/strict";
import {
  bytes,
  CommandProcess,
  connect,
  readUntil,
  ROOT,
  ServerProcess,
} from "./_helpers.ts";

Deno.test("deno task install gives a working tcpservd and tcpcli", async () => {
  const root = await Deno.makeTempDir({ prefix: "tcpkit-install-" });
  try {
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["task", "install"],
      cwd: ROOT,
      env: { DENO_INSTALL_ROOT: root, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(install.success, new TextDecoder().decode(install.stderr));
    await using server = await ServerProcess.start([], {
      command: `${root}/bin/tcpservd`,
    });
    await using cli = new CommandProcess(["127.0.0.1", String(server.port)], {
      command: `${root}/bin/tcpcli`,
    });
    const status = await cli.wait();
    assert.equal(status.code, 0, cli.stderr);
    assert.match(cli.stdout, /^GOOD 127\.0\.0\.1:\d+ /);

    // The installed command starts its workers too (it runs outside the project).
    await using workers = await ServerProcess.start(["--echo", "-w", "2"], {
      command: `${root}/bin/tcpservd`,
      cwd: root,
    });
    assert.match(workers.stderr, /2 workers ready/);
    const conn = await connect(workers.port);
    try {
      await conn.write(bytes("installed\n"));
      assert.equal(
        (await readUntil(conn, (t) => t.endsWith("\n"))).text,
        "installed\n",
      );
    } finally {
      conn.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
