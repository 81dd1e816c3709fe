/**
 * tcpcli as the abusive client: local commands change its own socket and
 * behaviour; the server's view is checked in its debug log.
 */
import assert from "node:assert/strict";
import { runTcpcli, ServerProcess } from "./_helpers.ts";

Deno.test("tcpcli -c passive: shuts our write side after the next line", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli([
    "-c",
    "passive",
    "-c",
    "getstatus",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "GOOD\n");
});

Deno.test("tcpcli -c short: one byte per write still makes a command", async () => {
  await using server = await ServerProcess.start(["-d"]);
  const result = await runTcpcli([
    "-c",
    "short",
    "-c",
    "getstatus",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "GOOD\n");
});

Deno.test("tcpcli -c 'linger 0' then bye: the server sees a reset", async () => {
  await using server = await ServerProcess.start(["-d"]);
  const result = await runTcpcli([
    "-c",
    "linger 0",
    "-c",
    "bye",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(result.code, 0, result.stderr);
  await server.waitForLine(
    /connection 1 from .* ended: .*(reset|Connection reset)/i,
  );
});

Deno.test("tcpcli -c 'timeout 1': gives up on a reply that never comes", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli([
    "-c",
    "fault hang on=current",
    "-c",
    "timeout 1",
    "-c",
    "getstatus",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stdout, /^OK fault on this connection: hang/);
  assert.match(result.stderr, /timeout! no reply to "getstatus" within 1 s/);
});

Deno.test("tcpcli -c die: exits at once without closing", async () => {
  await using server = await ServerProcess.start(["-d"]);
  const result = await runTcpcli([
    "-c",
    "getstatus",
    "-c",
    "die",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "GOOD\n");
  // The kernel closed for us: the server sees the end of the connection.
  await server.waitForLine(/connection 1 from .* closed/);
});

Deno.test("tcpcli -i: local words act, the rest is sent", async () => {
  await using server = await ServerProcess.start(["-d"]);
  const result = await runTcpcli(["-i", "127.0.0.1", String(server.port)], {
    stdin: "getstatus\nlinger 0\nbye\n",
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^> GOOD\n> /);
  await server.waitForLine(
    /connection 1 from .* ended: .*(reset|Connection reset)/i,
  );
});

Deno.test("tcpcli -i: timeout S ends a session whose reply never comes", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli(["-i", "127.0.0.1", String(server.port)], {
    // zero-window: the server stops reading, so even our end of input goes unseen.
    stdin: "fault zero-window on=current\ntimeout 1\ngetstatus\n",
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /timeout!/);
});

Deno.test("tcpcli rejects a local word with a bad argument", async () => {
  const result = await runTcpcli(["-c", "shut 7", "127.0.0.1", "1"]);
  assert.equal(result.code, 64);
  assert.match(
    result.stderr,
    /Invalid --command "shut 7": shut needs a number from 0 to 2/,
  );
});
