/**
 * `--metrics HOST:PORT` end to end: tcpservd, iotcpd and the takeover
 * server each serve `/metrics`; traffic over real sockets moves the series;
 * every scrape passes the real `promtool check metrics` with no lint
 * problem; and tcpcli never loads the metrics module (issue 13, point 3).
 */
import assert from "node:assert/strict";
import { CONTENT_TYPE } from "../metrics/mod.ts";
import {
  ask,
  type CommandProcess,
  ROOT,
  ServerProcess,
  session,
  taskArgs,
} from "./_helpers.ts";
import { waitFor } from "./_kit.ts";
import { ask as askIotcpd, IotcpdProcess } from "./_iotcpd_helpers.ts";
import {
  openTempDir,
  receivedSoFar,
  startClient,
  TAKEOVER_RUN,
  TakeoverProcess,
  waitForReceived,
} from "./_takeover_helpers.ts";

const PROMTOOL = "/usr/bin/promtool";
const whyNoPromtool = (() => {
  try {
    Deno.statSync(PROMTOOL);
    return undefined;
  } catch {
    return `${PROMTOOL} missing (Debian package prometheus; .ci/run installs it)`;
  }
})();
if (whyNoPromtool !== undefined) {
  // deno-lint-ignore no-console -- the reason a test is skipped must be seen
  console.log(`skipping the metrics tests: ${whyNoPromtool}`);
}

/** The port of the `metrics on HOST:PORT` line. */
async function metricsPort(proc: CommandProcess, from = 0): Promise<number> {
  const match = await proc.waitForLine(
    /metrics on (?:\[[^\]]+\]|[^\s:"]+):(\d+)/,
    15000,
    from,
  );
  return Number(match[1]);
}

/** GETs /metrics: checks the status and the content type, returns the body. */
async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  const body = await response.text();
  assert.equal(response.status, 200, body);
  assert.equal(response.headers.get("content-type"), CONTENT_TYPE);
  return body;
}

/** Pipes a scrape to `promtool check metrics`: exit 0 and not a word said. */
async function promtoolCheck(body: string): Promise<void> {
  const child = new Deno.Command(PROMTOOL, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(body));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const said = new TextDecoder().decode(stdout) +
    new TextDecoder().decode(stderr);
  assert.equal(code, 0, `promtool: ${said}\n${body}`);
  assert.equal(said.trim(), "", `promtool lint: ${said}`);
}

/** The value of one series (`name{labels}` exactly as printed), or undefined. */
function value(body: string, series: string): number | undefined {
  for (const line of body.split("\n")) {
    if (line.startsWith(`${series} `)) {
      return Number(line.slice(series.length + 1));
    }
  }
  return undefined;
}

/** Scrapes until `series` has `expected` (counts settle a moment after replies). */
async function scrapeUntil(
  port: number,
  series: string,
  expected: number,
): Promise<string> {
  return await waitFor(async () => {
    const body = await scrape(port);
    return value(body, series) === expected ? body : undefined;
  }, { what: `${series} = ${expected}`, ms: 10000, intervalMs: 50 });
}

/** The status and body of a request to the endpoint. */
async function request(
  url: string,
  init: RequestInit = {},
): Promise<[number, string | null]> {
  const response = await fetch(url, init);
  await response.body?.cancel();
  return [response.status, response.headers.get("allow")];
}

Deno.test({
  name:
    "tcpservd --metrics: connections, commands, health, faults and startloops move with real traffic; promtool accepts the scrape",
  ignore: whyNoPromtool !== undefined,
  fn: async () => {
    await using server = await ServerProcess.start([
      "--metrics",
      "127.0.0.1:0",
      "--max-conns",
      "1",
    ]);
    const port = await metricsPort(server);
    assert.notEqual(port, 0);
    const before = await scrape(port);
    await promtoolCheck(before);
    assert.equal(value(before, 'tcpservd_health{state="GOOD"}'), 1);
    assert.equal(value(before, "tcpservd_connections_accepted_total"), 0);
    const conn = await session(server.port);
    try {
      assert.equal(await ask(conn, "getstatus"), "GOOD\n");
      await ask(conn, "getstatus");
      await ask(conn, "setbad");
      await ask(conn, "hello there");
      await ask(conn, "fault delay ms=1 on=current");
      await ask(conn, "fault delay ms=1");
      assert.match(await ask(conn, "startloop 1"), /END_LOOP/);
      // The one connection allowed is ours: the next is refused.
      const refused = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      refused.close();
      const during = await scrapeUntil(
        port,
        "tcpservd_connections_refused_total",
        1,
      );
      await promtoolCheck(during);
      const expected: [string, number][] = [
        ["tcpservd_connections_open", 1],
        ["tcpservd_connections_accepted_total", 1],
        ['tcpservd_commands_total{command="getstatus"}', 2],
        ['tcpservd_commands_total{command="setbad"}', 1],
        ['tcpservd_commands_total{command="echo"}', 1],
        ['tcpservd_commands_total{command="fault"}', 2],
        ['tcpservd_commands_total{command="startloop"}', 1],
        ['tcpservd_health{state="GOOD"}', 0],
        ['tcpservd_health{state="BAD"}', 1],
        ['tcpservd_faults_applied_total{fault="delay"}', 1],
        ['tcpservd_faults_applied_total{fault="reset"}', 0],
        ['tcpservd_faults_active{fault="delay"}', 1],
        ["tcpservd_startloops_total", 1],
        ["tcpservd_startloops_running", 0],
      ];
      for (const [series, want] of expected) {
        assert.equal(value(during, series), want, series);
      }
      const started = value(during, "process_start_time_seconds")!;
      assert.ok(Math.abs(started - Date.now() / 1000) < 600, `${started}`);
      const base = `http://127.0.0.1:${port}`;
      assert.deepEqual(await request(`${base}/`), [404, null]);
      assert.deepEqual(
        await request(`${base}/metrics`, { method: "POST", body: "x" }),
        [405, "GET, HEAD"],
      );
    } finally {
      conn.close();
    }
    await scrapeUntil(port, "tcpservd_connections_open", 0);
  },
});

Deno.test({
  name:
    "tcpservd --echo --metrics: connection series only (no commands, health or faults on the epoll engine)",
  ignore: whyNoPromtool !== undefined,
  fn: async () => {
    await using server = await ServerProcess.start([
      "--echo",
      "--metrics",
      "127.0.0.1:0",
    ]);
    const port = await metricsPort(server);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      await conn.write(new TextEncoder().encode("ping\n"));
      const buffer = new Uint8Array(16);
      assert.equal(await conn.read(buffer), 5);
      const body = await scrapeUntil(port, "tcpservd_connections_open", 1);
      await promtoolCheck(body);
      assert.equal(value(body, "tcpservd_connections_accepted_total"), 1);
      assert.doesNotMatch(body, /tcpservd_(commands|health|faults|startloops)/);
    } finally {
      conn.close();
    }
  },
});

Deno.test({
  name:
    "tcpservd -w 2 --metrics: the master serves the sums over its workers, respawned ones included",
  ignore: whyNoPromtool !== undefined,
  fn: async () => {
    // Each worker retires after 3 connections and is replaced: totals must
    // carry on across the respawns, and both workers must be counted.
    await using server = await ServerProcess.start([
      "-w",
      "2",
      "--max-connections",
      "3",
      "--metrics",
      "127.0.0.1:0",
    ]);
    const port = await metricsPort(server);
    const total = 10;
    for (let i = 0; i < total; i++) {
      // A worker retiring may close the listener under a new connection:
      // retry that one (bounded), as a client would.
      await waitFor(async () => {
        try {
          const conn = await session(server.port);
          try {
            await ask(conn, "getstatus");
          } finally {
            conn.close();
          }
          return true;
        } catch {
          return false;
        }
      }, { what: `connection ${i}`, ms: 10000, intervalMs: 50 });
    }
    const conn = await session(server.port);
    try {
      await ask(conn, "setbad");
    } finally {
      conn.close();
    }
    const body = await scrapeUntil(
      port,
      'tcpservd_commands_total{command="getstatus"}',
      total,
    );
    await promtoolCheck(body);
    assert.equal(value(body, "tcpservd_workers"), 2);
    assert.equal(value(body, 'tcpservd_commands_total{command="setbad"}'), 1);
    assert.equal(value(body, 'tcpservd_health{state="BAD"}'), 1);
    // Connection counts reach the master within a publish interval.
    await waitFor(async () => {
      const accepted = value(
        await scrape(port),
        "tcpservd_connections_accepted_total",
      )!;
      return accepted >= total + 1;
    }, { what: `${total + 1} connections accepted`, ms: 10000 });
    // More than the two first workers served: respawns happened.
    const started = server.lines.filter((l) => /worker \d+ started/.test(l));
    assert.ok(started.length > 2, server.stderr);
    await scrapeUntil(port, "tcpservd_connections_open", 0);
  },
});

Deno.test("tcpservd --metrics: a bad address or a takeover is a usage error (64), a taken port an OS error (71)", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const takenPort = (taken.addr as Deno.NetAddr).port;
  const cases: [string[], number, RegExp][] = [
    [["--metrics", "9100"], 64, /Invalid value for --metrics: "9100"/],
    [
      ["--metrics", "127.0.0.1:0", "--takeover", "/tmp/unused.sock"],
      64,
      /--metrics cannot be combined with --takeover/,
    ],
    [
      ["--metrics", `127.0.0.1:${takenPort}`],
      71,
      new RegExp(
        `cannot serve metrics on 127\\.0\\.0\\.1:${takenPort}: .*[Aa]ddr`,
      ),
    ],
  ];
  for (const [args, code, message] of cases) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...taskArgs("tcpservd"), "-a", "127.0.0.1", "-p", "0", ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, code, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message);
  }
});

Deno.test({
  name:
    "iotcpd --metrics: requests, replies, errors by reason, queue, daemons and the latency histogram; promtool accepts the scrape",
  ignore: whyNoPromtool !== undefined,
  fn: async () => {
    await using iotcpd = await IotcpdProcess.start([
      "-n",
      "2",
      "--max-line",
      "32",
      "--metrics",
      "127.0.0.1:0",
    ]);
    const port = await metricsPort(iotcpd);
    for (let i = 0; i < 3; i++) {
      assert.equal(await askIotcpd(iotcpd.port, `hello ${i}`), `hello ${i}\n`);
    }
    assert.equal(await askIotcpd(iotcpd.port, "x".repeat(100)), "ERR\n");
    const body = await scrapeUntil(
      port,
      'iotcpd_request_errors_total{reason="line-too-long"}',
      1,
    );
    await promtoolCheck(body);
    const expected: [string, number][] = [
      ["iotcpd_requests_total", 4],
      ["iotcpd_replies_total", 3],
      ['iotcpd_request_errors_total{reason="queue-timeout"}', 0],
      ["iotcpd_queue_length", 0],
      ["iotcpd_requests_in_flight", 0],
      ["iotcpd_daemon_spawns_total", 2],
      ["iotcpd_request_duration_seconds_count", 3],
      ['iotcpd_request_duration_seconds_bucket{le="+Inf"}', 3],
      ['iotcpd_request_duration_seconds_bucket{le="10"}', 3],
    ];
    for (const [series, want] of expected) {
      assert.equal(value(body, series), want, series);
    }
    const slots = ["available", "busy", "spawning", "starting"].reduce(
      (total, state) =>
        total + value(body, `iotcpd_daemons{state="${state}"}`)!,
      0,
    );
    assert.equal(slots, 2);
    const sum = value(body, "iotcpd_request_duration_seconds_sum")!;
    assert.ok(sum > 0 && sum < 30, `sum ${sum}`);
  },
});

Deno.test({
  name:
    "takeover server --metrics: connections and handover outcomes; after a takeover the new process serves the same metrics address",
  ignore: whyNoPromtool !== undefined,
  fn: async () => {
    await using dir = await openTempDir();
    const path = `${dir.path}/takeover.sock`;
    await using old = await TakeoverProcess.offering(path, [
      "--metrics",
      "127.0.0.1:0",
    ]);
    const port = await metricsPort(old);
    await using client = await startClient([
      "-a",
      "127.0.0.1",
      "-p",
      String(old.port),
      "--conns",
      "2",
      "--interval",
      "20",
      "--report",
      "100",
    ]);
    await waitForReceived(client, 5);
    // A silent asker on the offer socket is dropped: an abandoned handover.
    const asker = await Deno.connect({ transport: "unix", path });
    try {
      await old.waitForLine(/takeover request from pid \d+ abandoned/);
    } finally {
      asker.close();
    }
    const before = await scrapeUntil(
      port,
      'takeover_handovers_total{outcome="abandoned"}',
      1,
    );
    await promtoolCheck(before);
    assert.equal(value(before, "takeover_connections_open"), 2);
    assert.equal(
      value(before, 'takeover_handovers_total{outcome="handed_over"}'),
      0,
    );
    assert.equal(value(before, "takeover_took_over_connections"), 0);
    assert.ok(value(before, "takeover_seqnums_echoed_total")! > 0);
    // The new process asks for the very address the old one serves metrics on.
    await using next = new TakeoverProcess([
      ...TAKEOVER_RUN,
      "server",
      "-T",
      path,
      "--metrics",
      `127.0.0.1:${port}`,
    ]);
    assert.equal(await metricsPort(next), port);
    await next.waitForLine(/listening on /);
    assert.equal((await old.wait()).code, 0);
    const after = await scrape(port);
    await promtoolCheck(after);
    assert.equal(value(after, "takeover_took_over_connections"), 2);
    assert.ok(value(after, "takeover_took_over_seconds")! > 0);
    assert.equal(value(after, "takeover_connections_open"), 2);
    const pid = value(after, "process_start_time_seconds")!;
    assert.ok(pid >= value(before, "process_start_time_seconds")!);
    // The clients are served by the new process: their echoes go on.
    await waitForReceived(client, receivedSoFar(client), 30000);
  },
});

Deno.test("tcpcli's module graph, dynamic imports included, has no metrics/ module", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "client/main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string }[];
  };
  assert.ok(graph.modules.length > 20, `${graph.modules.length} modules`);
  const metrics = graph.modules.map((m) => m.specifier).filter((s) =>
    s.includes("/metrics/")
  );
  assert.deepEqual(metrics, []);
  // And the servers do reach it (so the check above is not vacuous).
  const server = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "server/main.ts"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  assert.match(new TextDecoder().decode(server.stdout), /\/metrics\/mod\.ts/);
});
