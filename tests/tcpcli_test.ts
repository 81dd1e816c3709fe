/**
 * tcpcli as a separate process against a real tcpservd: exit codes,
 * formats, deadlines, scripted and interactive use.
 */
import assert from "node:assert/strict";
import { closeWithReset } from "../ffi/mod.ts";
import {
  CommandProcess,
  runTcpcli,
  ServerProcess,
  startTestServer,
  taskArgs,
} from "./_helpers.ts";

Deno.test("tcpcli exits 0 and prints GOOD against a GOOD server", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli(["127.0.0.1", String(server.port)]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^GOOD 127\.0\.0\.1:\d+ time=\d+\.\d{3}s\n$/);
});

Deno.test("tcpcli exits 1 against a BAD server", async () => {
  await using server = await ServerProcess.start();
  const set = await runTcpcli([
    "-c",
    "setbad",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, "Status is BAD\n");
  const result = await runTcpcli(["127.0.0.1", String(server.port)]);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /^BAD 127\.0\.0\.1:/);
});

Deno.test("tcpcli exits 2 when the connection is refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const result = await runTcpcli(["127.0.0.1", String(port)]);
  assert.equal(result.code, 2);
  assert.match(
    result.stdout,
    /^UNREACHABLE Cannot connect to 127\.0\.0\.1:\d+: .*refused/i,
  );
});

Deno.test("tcpcli says the server reset the connection it had accepted, and exits 2", async () => {
  using resetting = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // Accept, then RST (SO_LINGER {1,0}): no prompt, no FIN.
  const serving = (async () => {
    closeWithReset(await resetting.accept());
  })();
  const port = resetting.addr.port;
  const text = await runTcpcli(["127.0.0.1", String(port)]);
  await serving;
  assert.equal(text.code, 2, text.stderr);
  assert.equal(
    text.stdout,
    `RESET 127.0.0.1:${port}: Connected, then reset by the peer before the prompt\n`,
  );
  const nagios = (async () => {
    closeWithReset(await resetting.accept());
  })();
  const plugin = await runTcpcli([
    "--format",
    "nagios",
    "127.0.0.1",
    String(port),
  ]);
  await nagios;
  assert.equal(plugin.code, 2, plugin.stderr);
  assert.match(plugin.stdout, /^TCPSERVD CRITICAL - .*reset by the peer/);
});

Deno.test("tcpcli exits 2 within its deadline against a server that never answers", async () => {
  // Accepts and never says a word; the dispose closes what it accepted.
  await using silent = startTestServer(() => Promise.resolve());
  const started = performance.now();
  const result = await runTcpcli([
    "-t",
    "1",
    "127.0.0.1",
    String(silent.port),
  ]);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(result.code, 2);
  assert.match(
    result.stdout,
    /^TIMEOUT 127\.0\.0\.1:\d+: Timed out after 1 s\n$/,
  );
  assert.equal(silent.conns.length, 1, "it did connect");
  // The deadline is the point of the option: far below the default 5 s.
  assert.ok(seconds < 4.5, `took ${seconds} s`);
});

Deno.test("tcpcli exits 2 on a reply it does not understand", async () => {
  using odd = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await odd.accept();
    try {
      await conn.write(new TextEncoder().encode("220 smtp.example ESMTP\r\n"));
      await conn.read(new Uint8Array(64));
    } finally {
      conn.close();
    }
  })();
  const result = await runTcpcli(["127.0.0.1", String(odd.addr.port)]);
  await serving;
  assert.equal(result.code, 2);
  assert.match(result.stdout, /^PROTOCOL_ERROR .*Expected the prompt/);
});

Deno.test("tcpcli -r sets the exit code of every failure", async () => {
  await using server = await ServerProcess.start(["--initial-state", "bad"]);
  const bad = await runTcpcli(["-r", "7", "127.0.0.1", String(server.port)]);
  assert.equal(bad.code, 7);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const refused = await runTcpcli(["-r", "7", "127.0.0.1", String(port)]);
  assert.equal(refused.code, 7);
});

Deno.test("tcpcli --format nagios prints a plugin line and maps 0/2", async () => {
  await using server = await ServerProcess.start();
  const ok = await runTcpcli([
    "--format",
    "nagios",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(ok.code, 0);
  assert.match(
    ok.stdout,
    /^TCPSERVD OK - GOOD \| time=\d+\.\d{3}s\n$/,
  );
  await runTcpcli(["-c", "setbad", "127.0.0.1", String(server.port)]);
  const crit = await runTcpcli([
    "--format",
    "nagios",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(crit.code, 2);
  assert.match(crit.stdout, /^TCPSERVD CRITICAL - BAD \| time=/);
});

Deno.test("tcpcli --format json prints one JSON object", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli([
    "--format",
    "json",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(result.code, 0);
  const record = JSON.parse(result.stdout);
  assert.equal(record.status, "GOOD");
  assert.equal(record.exit_code, 0);
  assert.equal(record.port, server.port);
  assert.equal(typeof record.time_s, "number");
});

Deno.test("tcpcli -q prints nothing", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli(["-q", "127.0.0.1", String(server.port)]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "");
});

Deno.test("tcpcli -c sends each command and prints each reply", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli([
    "-c",
    "getstatus",
    "-c",
    "setbad",
    "-c",
    "getstatus",
    "-c",
    "hello there",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "GOOD\nStatus is BAD\nBAD\nhello there\n");
});

Deno.test("tcpcli -i relays a typed session", async () => {
  await using server = await ServerProcess.start();
  const result = await runTcpcli(["-i", "127.0.0.1", String(server.port)], {
    stdin: "getstatus\nsetbad\nquit\n",
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "> GOOD\n> Status is BAD\n> QUIT\n");
});

Deno.test("tcpcli reaches a server on IPv6 ::1", async () => {
  await using server = await ServerProcess.start(["-a", "::1"]);
  const result = await runTcpcli(["::1", String(server.port)]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /^GOOD \[::1\]:\d+ /);
});

Deno.test("tcpcli reports a server refusing past its connection limit", async () => {
  await using server = await ServerProcess.start(["--max-conns", "1"]);
  const holder = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  try {
    await holder.read(new Uint8Array(2));
    const result = await runTcpcli(["127.0.0.1", String(server.port)]);
    assert.equal(result.code, 2);
    assert.match(result.stdout, /^PROTOCOL_ERROR .*ERR too many connections/);
  } finally {
    holder.close();
  }
});

Deno.test("tcpcli --help exits 0; a bad option exits 64", async () => {
  await using help = new CommandProcess([...taskArgs("tcpcli"), "--help"]);
  assert.equal((await help.wait()).code, 0);
  assert.match(help.stdout, /^USAGE:\n {2}tcpcli \[OPTIONS\] HOST \[PORT\]/);
  const bad = await runTcpcli(["--bogus", "127.0.0.1"]);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /^tcpcli: Unknown option '--bogus'/);
  const missing = await runTcpcli([]);
  assert.equal(missing.code, 64);
  assert.match(missing.stderr, /^tcpcli: Missing HOST/);
});
