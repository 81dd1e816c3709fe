/**
 * `tcpcli soak` as users run it (`deno task soak`), against real servers:
 * a tcpservd resetting 10 % of its connections with a fixed seed, a
 * tcpservd killed mid-run, a `takeover -T` handover and an iotcpd SIGHUP.
 */
import assert from "node:assert/strict";
import denoConfig from "../deno.json" with { type: "json" };
import {
  CommandProcess,
  ROOT,
  runTcpcli,
  ServerProcess,
  taskArgs,
  waitFor,
} from "./_helpers.ts";
import {
  openTempDir,
  TAKEOVER_RUN,
  TakeoverProcess,
} from "./_takeover_helpers.ts";
import { IotcpdProcess } from "./_iotcpd_helpers.ts";

const SOAK_RUN = (denoConfig.tasks as Record<string, string>)["soak"]!
  .split(/\s+/).slice(1);

/** What the tests read from `--json -`. */
interface Summary {
  messages: number;
  elapsedMs: number;
  totals: {
    sent: number;
    answered: number;
    opened: number;
    refused: number;
    reset: number;
    timeout: number;
    lost: number;
    wrong: number;
  };
  lostMessages: number;
  failedConnections: number;
  exitCode: number;
  mode: string;
  during: {
    startMs: number | null;
    endMs: number | null;
    exitCode: number | null;
    phases: Record<string, Summary["totals"]>;
  } | null;
  nodes:
    | { node: string; answers: number; firstMs: number; lastMs: number }[]
    | null;
}

/** Starts `tcpcli soak ARGS --json -`. */
function startSoak(args: string[]): CommandProcess {
  return new CommandProcess([...SOAK_RUN, ...args, "--json", "-"]);
}

/** Waits for soak to end; returns its exit code, JSON summary and text summary (stderr). */
async function finish(
  soak: CommandProcess,
  ms = 40000,
): Promise<{ code: number; summary: Summary; text: string }> {
  const status = await soak.wait(ms);
  const line = soak.stdout.trim().split("\n").pop() ?? "";
  let summary: Summary;
  try {
    summary = JSON.parse(line) as Summary;
  } catch {
    throw new Error(
      `No JSON summary (exit ${status.code}):\n${soak.stdout}\n${soak.stderr}`,
    );
  }
  return { code: status.code, summary, text: soak.stderr };
}

/** Runs soak to its end. */
async function runSoak(args: string[]) {
  await using soak = startSoak(args);
  return await finish(soak);
}

Deno.test("soak counts tcpservd's seeded resets exactly, the same on every run", async () => {
  const runs = [];
  for (let round = 0; round < 2; round++) {
    await using server = await ServerProcess.start([
      "--fault",
      "reset p=0.1 seed=1",
    ]);
    const run = await runSoak([
      "--mode",
      "tcpservd",
      "--conns",
      "30",
      "--count",
      "300",
      "--rate",
      "1000",
      "--timeout",
      "15000",
      "127.0.0.1",
      String(server.port),
    ]);
    server.kill("SIGTERM");
    await server.wait();
    const applied = server.lines.filter((l) =>
      /fault reset .* applied to connection/.test(l)
    ).length;
    runs.push({ ...run, applied });
  }
  for (const run of runs) {
    assert.equal(run.code, 1, run.text);
    // Every reset the server did, soak saw, and nothing else went wrong.
    assert.ok(run.applied > 0, "the seed resets some connections");
    assert.equal(run.summary.totals.reset, run.applied, run.text);
    assert.equal(run.summary.totals.opened, 30 + run.applied);
    assert.equal(run.summary.totals.answered, 300);
    assert.equal(run.summary.failedConnections, run.applied);
    assert.equal(run.summary.lostMessages, 0);
    assert.match(
      run.text,
      new RegExp(
        `result: no message lost; ${run.applied} connections failed \\(refused 0, reset ${run.applied}\\) \\(exit 1\\)`,
      ),
    );
  }
  assert.deepEqual(runs[0]!.summary.totals, runs[1]!.summary.totals);
});

Deno.test("soak reports the losses when --during kills the server, all during or after it, and exits 1", async () => {
  await using server = await ServerProcess.start([]);
  const { code, summary, text } = await runSoak([
    "--conns",
    "10",
    "--rate",
    "200",
    "--duration",
    "3",
    "--timeout",
    "500",
    "--during",
    `kill -KILL ${server.pid}`,
    "--at",
    "1",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(code, 1, text);
  assert.equal(summary.mode, "tcpservd");
  assert.ok(summary.totals.refused > 0, text);
  assert.ok(summary.totals.timeout > 0, text);
  const t = summary.totals;
  assert.equal(summary.lostMessages, t.timeout + t.lost + t.wrong);
  assert.equal(summary.failedConnections, t.refused + t.reset);
  assert.match(
    text,
    new RegExp(
      `result: LOST ${summary.lostMessages} messages \\(timed out ${t.timeout}, lost ${t.lost}, wrong ${t.wrong}\\); ${summary.failedConnections} connections failed \\(refused ${t.refused}, reset ${t.reset}\\) \\(exit 1\\)`,
    ),
  );
  // The window: kill ran at 1 s and exited at once.
  const d = summary.during!;
  assert.equal(d.exitCode, 0);
  assert.ok(d.startMs! >= 1000 && d.endMs! >= d.startMs!, JSON.stringify(d));
  assert.match(text, /during "kill -KILL \d+": from 1\.\d\d s to/);
  // Nothing failed before the kill; everything after it did.
  const failed = (c: Summary["totals"]) =>
    c.refused + c.reset + c.timeout + c.lost + c.wrong;
  assert.equal(failed(d.phases.before!), 0, text);
  assert.ok(d.phases.before!.answered > 0, text);
  // A reply read just after `kill` exited may count after; hardly any can.
  assert.ok(d.phases.after!.answered < d.phases.before!.answered / 10, text);
  assert.equal(
    failed(d.phases.during!) + failed(d.phases.after!),
    summary.lostMessages + summary.failedConnections,
  );
  for (const key of Object.keys(t) as (keyof Summary["totals"])[]) {
    assert.equal(
      d.phases.before![key] + d.phases.during![key] + d.phases.after![key],
      t[key],
      key,
    );
  }
});

Deno.test("soak loses nothing across a takeover -T handover", async () => {
  await using dir = await openTempDir();
  const path = `${dir.path}/takeover.sock`;
  await using old = await TakeoverProcess.offering(path);
  await using soak = startSoak([
    "--mode",
    "echo",
    "--conns",
    "20",
    "--rate",
    "400",
    "--connect-rate",
    "20",
    "--duration",
    "5",
    "--timeout",
    "10000",
    "127.0.0.1",
    String(old.port),
  ]);
  await soak.waitForLine(/load started/, 20000);
  await using next = new TakeoverProcess([
    ...TAKEOVER_RUN,
    "server",
    "-T",
    path,
  ]);
  await next.waitForLine(/took over \d+ connections/, 30000);
  assert.equal(soak.exited, undefined, "the handover came during the load");
  assert.equal((await old.wait(30000)).code, 0);
  const { code, summary, text } = await finish(soak);
  assert.equal(summary.lostMessages + summary.failedConnections, 0, text);
  assert.equal(code, 0);
  assert.equal(summary.totals.answered, summary.messages);
  assert.ok(summary.totals.opened > 20, "new connections were opened");
});

Deno.test("soak loses nothing across an iotcpd SIGHUP sent by --during", async () => {
  await using iotcpd = await IotcpdProcess.start([
    "-n",
    "4",
    "--queue-timeout",
    "20000",
  ]);
  const { code, summary, text } = await runSoak([
    "--mode",
    "echo",
    "--per-conn",
    "1",
    "--conns",
    "4",
    "--rate",
    "400",
    "--duration",
    "4",
    "--timeout",
    "10000",
    "--during",
    `kill -HUP ${iotcpd.pid}`,
    "--at",
    "1.5",
    "127.0.0.1",
    String(iotcpd.port),
  ]);
  await iotcpd.waitForLine(/SIGHUP: restarting the daemons/, 10000);
  assert.equal(summary.lostMessages + summary.failedConnections, 0, text);
  assert.equal(code, 0);
  assert.equal(summary.totals.answered, summary.messages);
  assert.equal(summary.during?.exitCode, 0);
  assert.ok(summary.during!.startMs! >= 1500);
  assert.ok(summary.during!.phases.after!.answered > 0, "load after the HUP");
  assert.match(text, /result: nothing lost \(exit 0\)/);
  // One request per connection: every message had its own.
  assert.ok(summary.totals.opened >= summary.messages, text);
  const stats = await iotcpd.statistics();
  assert.equal(stats.counters["daemon spawns"], 2 * 4, "the pool restarted");
  assert.equal(stats.counters["queries replied"], summary.messages);
});

Deno.test("soak: bad flags exit 64; --during without --allow-run exits 2 and says why", async () => {
  const usage = await runTcpcli(["soak", "--rate", "0", "127.0.0.1", "1"]);
  assert.equal(usage.code, 64);
  assert.match(usage.stderr, /Invalid value for --rate/);
  assert.match(usage.stderr, /tcpcli soak \[OPTIONS\] HOST PORT/);
  const denied = await runTcpcli([
    "soak",
    "--during",
    "true",
    "127.0.0.1",
    "1",
  ]);
  assert.equal(denied.code, 2);
  assert.match(denied.stderr, /--during needs --allow-run/);
  // An output that cannot be written: exit 2, whatever the load did.
  await using unwritable = new CommandProcess([
    ...SOAK_RUN,
    "--duration",
    "0.2",
    "--timeout",
    "200",
    "--json",
    "/nonexistent-soak-dir/summary.json",
    "127.0.0.1",
    "1",
  ]);
  assert.equal((await unwritable.wait(20000)).code, 2);
  assert.match(
    unwritable.stderr,
    /cannot write \/nonexistent-soak-dir\/summary\.json/,
  );
  assert.match(unwritable.stdout, /result: LOST/);
});

Deno.test("soak stops a --during command that outlives the load and says so", async () => {
  await using server = await ServerProcess.start(["--echo"]);
  const { code, summary, text } = await runSoak([
    "--mode",
    "echo",
    "--rate",
    "50",
    "--duration",
    "1",
    "--during",
    "exec sleep 30",
    "--at",
    "0.2",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(code, 0, text);
  assert.equal(summary.lostMessages + summary.failedConnections, 0);
  assert.equal(summary.during?.endMs, null);
  assert.equal(summary.during?.exitCode, null);
  assert.ok(summary.during!.startMs! >= 200);
  assert.match(
    text,
    /during "exec sleep 30": from 0\.2\d s \(still running at the end, stopped\)/,
  );
  assert.equal(summary.during!.phases.after!.sent, 0);
});

Deno.test("soak --json FILE and --timeline-json FILE write the summary and the 100 ms steps", async () => {
  await using server = await ServerProcess.start(["--echo"]);
  const dir = await Deno.makeTempDir({ prefix: "soak-json-" });
  try {
    await using soak = new CommandProcess([
      ...SOAK_RUN,
      "--mode",
      "echo",
      "--conns",
      "4",
      "--rate",
      "400",
      "--count",
      "400",
      "--json",
      `${dir}/summary.json`,
      "--timeline-json",
      `${dir}/timeline.json`,
      "127.0.0.1",
      String(server.port),
    ]);
    assert.equal((await soak.wait(30000)).code, 0, soak.stderr);
    // The text summary stays on stdout when no JSON goes there.
    assert.match(soak.stdout, /sent 400, answered 400/);
    const summary = JSON.parse(
      await Deno.readTextFile(`${dir}/summary.json`),
    ) as Summary & {
      histogram: { count: number }[];
      latencyMs: { p50: number; max: number };
    };
    assert.equal(summary.messages, 400);
    assert.equal(summary.totals.answered, 400);
    assert.equal(summary.exitCode, 0);
    assert.equal(summary.histogram.reduce((n, b) => n + b.count, 0), 400);
    assert.ok(summary.latencyMs.p50 <= summary.latencyMs.max);
    const timeline = JSON.parse(
      await Deno.readTextFile(`${dir}/timeline.json`),
    ) as {
      stepMs: number;
      during: unknown;
      steps: (Summary["totals"] & {
        t: number;
        p50: number;
        p99: number;
        max: number;
      })[];
    };
    assert.equal(timeline.stepMs, 100);
    assert.equal(timeline.during, null);
    // 400 messages at 400/s: one second of load, in ten steps or a few more.
    assert.ok(timeline.steps.length >= 10, String(timeline.steps.length));
    timeline.steps.forEach((step, i) => assert.equal(step.t, i * 100));
    const sum = (key: "sent" | "answered") =>
      timeline.steps.reduce((n, s) => n + s[key], 0);
    assert.equal(sum("sent"), 400);
    assert.equal(sum("answered"), 400);
    for (const step of timeline.steps) {
      if (step.answered > 0) {
        assert.ok(step.p50 > 0 && step.p50 <= step.p99 && step.p99 <= step.max);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAPROXY = "/usr/sbin/haproxy";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Which node answers `hostname` on a new connection to `port`. */
async function nodeBehind(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode("hostname\nquit\n"));
    let text = "";
    const buf = new Uint8Array(4096);
    for (let i = 0; i < 100 && !/hostname:\[/.test(text); i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.match(/hostname:\[([^\]]*)\]/)?.[1] ?? "";
  } finally {
    conn.close();
  }
}

Deno.test({
  name:
    "soak --by-node through HAProxy: the BAD node's last reply, after --during setbad",
  ignore: (() => {
    try {
      Deno.statSync(HAPROXY);
      return false;
    } catch {
      // deno-lint-ignore no-console -- the reason a test is skipped must be seen
      console.error(
        `soak_test: skipping --by-node: no ${HAPROXY} (.ci/run installs haproxy)`,
      );
      return true;
    }
  })(),
  fn: async () => {
    const names = ["node1", "node2", "node3"];
    const nodes: ServerProcess[] = [];
    const dir = await Deno.makeTempDir({ prefix: "soak-haproxy-" });
    let haproxy: CommandProcess | undefined;
    try {
      for (const name of names) {
        nodes.push(
          await ServerProcess.start(["--name", name, "--agent-port", "0"]),
        );
      }
      const agents: number[] = [];
      for (const node of nodes) {
        agents.push(
          Number((await node.waitForLine(/agent-check on \S+:(\d+)/))[1]),
        );
      }
      const front = freePort();
      const env = [
        `HAPROXY_ADMIN_SOCKET=${dir}/admin.sock`,
        "HAPROXY_LOG=stdout",
        `TCPKIT_CHECKED_BIND=127.0.0.1:${front}`,
        `TCPKIT_AGENT_BIND=127.0.0.1:${freePort()}`,
        ...nodes.flatMap((node, i) => [
          `TCPKIT_NODE${i + 1}=127.0.0.1:${node.port}`,
          `TCPKIT_NODE${i + 1}_AGENT=${agents[i]}`,
        ]),
      ];
      haproxy = new CommandProcess(
        [...env, HAPROXY, "-db", "-f", `${ROOT}contrib/haproxy/haproxy.cfg`],
        { command: "/usr/bin/env" },
      );
      // Every node UP: a few new connections reach all three.
      await waitFor(async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          seen.add(await nodeBehind(front).catch(() => ""));
        }
        return names.every((n) => seen.has(n));
      }, {
        what: "haproxy sending to all three nodes",
        ms: 20000,
        intervalMs: 100,
      });
      const setbad = [
        Deno.execPath(),
        ...taskArgs("tcpcli"),
        "-c",
        "setbad",
        "127.0.0.1",
        String(nodes[1]!.port),
      ].join(" ");
      const { code, summary, text } = await runSoak([
        "--by-node",
        "--mode",
        "tcpservd",
        "--conns",
        "12",
        "--rate",
        "300",
        "--connect-rate",
        "40",
        "--duration",
        "5",
        "--timeout",
        "10000",
        "--during",
        setbad,
        "--at",
        "1",
        "127.0.0.1",
        String(front),
      ]);
      assert.equal(code, 0, text);
      assert.equal(summary.lostMessages + summary.failedConnections, 0, text);
      const byName = new Map(summary.nodes!.map((n) => [n.node, n]));
      assert.deepEqual([...byName.keys()].sort(), names, text);
      const total = summary.nodes!.reduce((n, x) => n + x.answers, 0);
      assert.equal(total, summary.totals.answered);
      // node2 answered until HAProxy marked it DOWN and its connections
      // were replaced; the others until the end.
      const start = summary.during!.startMs!;
      const bad = byName.get("node2")!;
      // deno-lint-ignore no-console -- the measured detection time
      console.log(
        `node2's last reply came ${
          ((bad.lastMs - start) / 1000).toFixed(2)
        } s after --during setbad started`,
      );
      assert.ok(bad.lastMs > start, text);
      for (const name of ["node1", "node3"]) {
        assert.ok(byName.get(name)!.lastMs > bad.lastMs, text);
      }
      assert.match(
        text,
        /node2 +\d+ replies, first \d+\.\d\d s, last \d+\.\d\d s \(\d+\.\d\d s after --during started\)/,
      );
    } finally {
      await haproxy?.[Symbol.asyncDispose]();
      for (const node of nodes) await node[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const CHROMIUM = "/usr/bin/chromium";

/** Runs headless Chromium on a page; its stdout and stderr. */
async function chromium(
  args: string[],
  profile: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  await using browser = new CommandProcess([
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    `--user-data-dir=${profile}`,
    "--enable-logging=stderr",
    "--v=0",
    ...args,
  ], { command: CHROMIUM });
  const status = await browser.wait(60000);
  return { code: status.code, stdout: browser.stdout, stderr: browser.stderr };
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG into pixel counts per colour. */
async function pngColours(png: Uint8Array): Promise<Map<string, number>> {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let width = 0, height = 0, channels = 0;
  const idat: Uint8Array<ArrayBuffer>[] = [];
  for (let at = 8; at < png.length;) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const body = png.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      assert.equal(body[8], 8, "8-bit");
      assert.equal(body[12], 0, "not interlaced");
      channels = body[9] === 6 ? 4 : body[9] === 2 ? 3 : 0;
      assert.ok(channels > 0, `colour type ${body[9]}`);
    } else if (type === "IDAT") idat.push(body.slice());
    at += 12 + length;
  }
  const stream = new Blob(idat).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1));
  const counts = new Map<string, number>();
  let previous = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.slice(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels]! : 0;
      const b = previous[i]!;
      const c = i >= channels ? previous[i - channels]! : 0;
      let add = 0;
      if (filter === 1) add = a;
      else if (filter === 2) add = b;
      else if (filter === 3) add = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = (line[i]! + add) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const o = x * channels;
      const hex = "#" + [line[o]!, line[o + 1]!, line[o + 2]!]
        .map((v) => v.toString(16).padStart(2, "0")).join("");
      counts.set(hex, (counts.get(hex) ?? 0) + 1);
    }
    previous = line;
  }
  return counts;
}

Deno.test({
  name:
    "soak --report draws the run in headless Chromium: series in the DOM, a picture, no console error",
  ignore: (() => {
    try {
      Deno.statSync(CHROMIUM);
      return false;
    } catch {
      // deno-lint-ignore no-console -- the reason a test is skipped must be seen
      console.error(
        `soak_test: skipping --report: no ${CHROMIUM} (.ci/run installs chromium)`,
      );
      return true;
    }
  })(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "soak-report-" });
    try {
      await using server = await ServerProcess.start(["--echo"]);
      // A 0.4 s stall of the server (SIGSTOP, SIGCONT) with a 200 ms
      // timeout: latency and time-outs in the window.
      const { code, summary, text } = await runSoak([
        "--mode",
        "echo",
        "--conns",
        "5",
        "--rate",
        "300",
        "--duration",
        "2",
        "--timeout",
        "200",
        "--during",
        `kill -STOP ${server.pid}; sleep 0.4; kill -CONT ${server.pid}`,
        "--at",
        "0.6",
        "--report",
        `${dir}/report.html`,
        "127.0.0.1",
        String(server.port),
      ]);
      assert.equal(code, 1, text);
      assert.ok(summary.totals.timeout > 0, text);
      const page = `file://${dir}/report.html`;
      const dom = await chromium(["--dump-dom", page], `${dir}/profile`);
      assert.equal(dom.code, 0, dom.stderr);
      // The page's script ran and drew every series over every step.
      assert.match(dom.stdout, /<body data-drawn="10">/);
      const paths = [...dom.stdout.matchAll(
        /<path d="(M[^"]+)"[^>]*data-series="(\w+)" data-points="(\d+)"/g,
      )];
      assert.deepEqual(
        paths.map((m) => m[2]).sort(),
        [
          "answered",
          "lost",
          "max",
          "p50",
          "p99",
          "refused",
          "reset",
          "sent",
          "timeout",
          "wrong",
        ],
      );
      for (const [, d, , points] of paths) {
        assert.ok(Number(points) >= 20, points);
        assert.equal(d!.split(/[ML]/).length - 1, Number(points));
      }
      assert.equal([...dom.stdout.matchAll(/data-window="during"/g)].length, 3);
      assert.match(dom.stdout, /LOST \d+ messages?, \d+ connections? failed/);
      const consoleLines = dom.stderr.split("\n").filter((l) =>
        /CONSOLE/.test(l)
      );
      assert.deepEqual(
        consoleLines,
        [],
        "no console message, no uncaught error",
      );

      const shot = await chromium([
        "--hide-scrollbars",
        `--screenshot=${dir}/report.png`,
        "--window-size=1200,1100",
        page,
      ], `${dir}/profile`);
      assert.equal(shot.code, 0, shot.stderr);
      const colours = await pngColours(
        await Deno.readFile(`${dir}/report.png`),
      );
      const total = [...colours.values()].reduce((n, c) => n + c, 0);
      assert.equal(total, 1200 * 1100);
      // Not blank: the series' own colours are painted, in lines, not only
      // in their legend swatches (12 x 10 px).
      for (const colour of ["#1f77b4", "#d62728", "#e377c2"]) {
        assert.ok(
          (colours.get(colour) ?? 0) > 200,
          `${colour}: ${colours.get(colour)}`,
        );
      }
      const white = colours.get("#ffffff") ?? 0;
      assert.ok(white < total * 0.97, "more than text on white");
      assert.ok(colours.size > 20, `${colours.size} colours`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("soak: Ctrl-C (SIGINT) ends the load early and still reports", async () => {
  await using server = await ServerProcess.start(["--echo"]);
  await using soak = startSoak([
    "--mode",
    "echo",
    "--rate",
    "100",
    "--duration",
    "60",
    "127.0.0.1",
    String(server.port),
  ]);
  await soak.waitForLine(/load started/, 20000);
  soak.kill("SIGINT");
  const { code, summary, text } = await finish(soak, 20000);
  assert.equal(code, 0, text);
  assert.match(text, /SIGINT: ending the load early/);
  assert.ok(summary.messages < 6000, String(summary.messages));
  // Every message that fell due before the SIGINT was sent and answered.
  assert.equal(summary.totals.sent, summary.messages);
  assert.equal(summary.totals.answered, summary.messages);
  assert.equal(summary.lostMessages + summary.failedConnections, 0);
});

Deno.test("soak --mode echo finds a duplicated, a corrupted, a reordered and a lost echo", async () => {
  // A faulty echo server: message 5 twice, 10 corrupted, 21 before 20, 30 never.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const encoder = new TextEncoder();
    let rest = "";
    let held = "";
    const buf = new Uint8Array(4096);
    try {
      for (let reads = 0; reads < 10000; reads++) {
        const n = await conn.read(buf);
        if (n === null) return;
        rest += new TextDecoder().decode(buf.subarray(0, n));
        const lines = rest.split("\n");
        rest = lines.pop()!;
        let out = "";
        for (const line of lines) {
          const index = Number(line.slice(1, 11));
          if (index === 5) out += `${line}\n${line}\n`;
          else if (index === 10) out += `${line.slice(0, -1)}~\n`;
          else if (index === 20) held = `${line}\n`;
          else if (index === 21) out += `${line}\n${held}`;
          else if (index !== 30) out += `${line}\n`;
        }
        if (out !== "") await conn.write(encoder.encode(out));
      }
    } catch {
      // soak closed the connection.
    } finally {
      conn.close();
    }
  })();
  try {
    const { code, summary, text } = await runSoak([
      "--mode",
      "echo",
      "--conns",
      "1",
      "--count",
      "50",
      "--rate",
      "1000",
      "--timeout",
      "1000",
      "127.0.0.1",
      String((listener.addr as Deno.NetAddr).port),
    ]);
    assert.equal(code, 1, text);
    const s = summary as Summary & { wrongReplies: Record<string, number> };
    assert.deepEqual(s.wrongReplies, {
      corrupt: 1,
      duplicate: 1,
      reordered: 1,
      unexpected: 0,
    }, text);
    assert.equal(s.totals.answered, 47, text);
    assert.equal(s.totals.wrong, 3);
    assert.equal(s.totals.timeout, 1);
    assert.equal(s.lostMessages, 4);
    assert.equal(s.failedConnections, 0);
    assert.match(text, /wrong 3 \(corrupt 1, duplicate 1, reordered 1\)/);
  } finally {
    listener.close();
    await served;
  }
});

Deno.test("soak against a stopped tcpservd (accepts, never greets) ends within --duration plus the timeout, the greeting time-outs counted as refused", async () => {
  await using server = await ServerProcess.start([]);
  server.kill("SIGSTOP");
  try {
    const started = performance.now();
    const { code, summary, text } = await runSoak([
      "--mode",
      "tcpservd",
      "--conns",
      "2",
      "--rate",
      "5",
      "--duration",
      "2",
      "--timeout",
      "500",
      "127.0.0.1",
      String(server.port),
    ]);
    const wallMs = performance.now() - started;
    assert.equal(code, 1, text);
    // 2 s of load, 0.5 s to open, 0.5 s for the last message; the rest is
    // process start-up, generous for a loaded CI machine.
    assert.ok(wallMs < 15000, `${wallMs} ms`);
    assert.ok(summary.elapsedMs <= 2000 + 500 + 300, text);
    assert.equal(summary.totals.sent, 0, text);
    assert.equal(summary.totals.timeout, summary.messages, text);
    assert.equal(summary.lostMessages, summary.messages);
    // Each slot: one open per greeting time-out plus back-off (0.6 s).
    assert.ok(summary.totals.refused >= 2, text);
    assert.ok(summary.totals.refused <= 2 * Math.ceil(3000 / 600) + 2, text);
    assert.equal(summary.failedConnections, summary.totals.refused);
    assert.match(text, /connections failed \(refused [1-9]\d*, reset 0\)/);
  } finally {
    server.kill("SIGCONT");
  }
});

Deno.test("soak: Ctrl-C while the connections wait for a greeting ends the run", async () => {
  // A server that accepts and never greets; each accept tells the test.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch { /* closed */ }
  })();
  try {
    await using soak = startSoak([
      "--mode",
      "tcpservd",
      "--conns",
      "2",
      "--duration",
      "60",
      "--timeout",
      "30000",
      "127.0.0.1",
      String((listener.addr as Deno.NetAddr).port),
    ]);
    await waitFor(() => held.length >= 2, {
      what: "soak's 2 connections",
      ms: 20000,
    });
    const interrupted = performance.now();
    soak.kill("SIGINT");
    const { code, summary, text } = await finish(soak, 20000);
    assert.ok(performance.now() - interrupted < 10000, text);
    assert.match(text, /SIGINT: ending the load early/);
    assert.doesNotMatch(text, /load started/);
    // Stopped before the load started: no message was due.
    assert.equal(summary.messages, 0, text);
    assert.equal(code, 0, text);
  } finally {
    listener.close();
    await accepting;
    for (const conn of held) conn.close();
  }
});

Deno.test("soak against tcpservd --max-conns 1 with 2 connections: the refusals are counted as such, reopened after the back-off", async () => {
  await using server = await ServerProcess.start(["--max-conns", "1"]);
  const { code, summary, text } = await runSoak([
    "--mode",
    "tcpservd",
    "--conns",
    "2",
    "--rate",
    "5",
    "--duration",
    "2",
    "--timeout",
    "500",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(code, 1, text);
  const t = summary.totals;
  // One slot is served; the other's 5 messages wait for it and time out.
  assert.equal(t.answered, 5, text);
  assert.equal(t.timeout, 5, text);
  assert.equal(t.wrong, 0, text);
  assert.equal(summary.lostMessages, 5);
  // Refused, and at most one attempt per back-off (100 ms) while it runs
  // (before the fix: thousands in 2 s).
  const attempts = 2 + Math.ceil(summary.elapsedMs / 100) + 2;
  assert.ok(t.refused >= 5, text);
  assert.ok(t.opened <= attempts, `${t.opened} > ${attempts}:\n${text}`);
  assert.equal(t.opened, t.refused + 1, text);
  assert.equal(summary.failedConnections, t.refused);
  assert.match(
    text,
    new RegExp(
      `result: LOST 5 messages \\(timed out 5, lost 0, wrong 0\\); ${t.refused} connections failed \\(refused ${t.refused}, reset 0\\)`,
    ),
  );
});

Deno.test("soak --mode echo against a server that accepts and closes at once: refused, reopened after the back-off", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        conn.close();
      }
    } catch { /* closed */ }
  })();
  try {
    const { code, summary, text } = await runSoak([
      "--mode",
      "echo",
      "--conns",
      "2",
      "--rate",
      "5",
      "--duration",
      "2",
      "--timeout",
      "500",
      "127.0.0.1",
      String((listener.addr as Deno.NetAddr).port),
    ]);
    assert.equal(code, 1, text);
    const t = summary.totals;
    assert.equal(t.answered, 0, text);
    assert.equal(t.wrong, 0, text);
    assert.equal(t.answered + summary.lostMessages, summary.messages, text);
    const attempts = 2 * (Math.ceil(summary.elapsedMs / 100) + 2);
    assert.ok(accepted <= attempts, `${accepted} > ${attempts}:\n${text}`);
    assert.ok(t.refused >= 4, text);
    assert.ok(t.refused + t.reset >= t.opened - 2, text);
  } finally {
    listener.close();
    await accepting;
  }
});

Deno.test("soak does not wait for what --during leaves holding its output, and stops it", async () => {
  await using server = await ServerProcess.start(["--echo"]);
  // A sleep of a length no other process has, to find it in /proc.
  const marker = `20.${Math.floor(Math.random() * 1e9)}`;
  // Its pids, zombies left out (through `ps`: Deno wants --allow-all for /proc).
  const sleeping = async () => {
    const out = await new Deno.Command("ps", {
      args: ["-eo", "pid=,stat=,args="],
      stdout: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).split("\n").map((line) =>
      line.trim().split(/\s+/)
    ).filter(([, stat, ...args]) =>
      stat !== undefined && !stat.startsWith("Z") &&
      args.join(" ") === `sleep ${marker}`
    ).map(([pid]) => Number(pid));
  };
  try {
    for (const command of [`sleep ${marker} &`, `sleep 0.2; sleep ${marker}`]) {
      const started = performance.now();
      const { code, summary, text } = await runSoak([
        "--mode",
        "echo",
        "--conns",
        "2",
        "--rate",
        "10",
        "--duration",
        "2",
        "--during",
        command,
        "--at",
        "0.5",
        "127.0.0.1",
        String(server.port),
      ]);
      const wallMs = performance.now() - started;
      assert.equal(code, 0, text);
      // Before the fix: 21 s (the sleep's 20 s).
      assert.ok(wallMs < 12000, `${command}: ${wallMs} ms\n${text}`);
      assert.ok(summary.during!.startMs! >= 500, text);
      // What CMD left is stopped with it.
      await waitFor(async () => (await sleeping()).length === 0, {
        what: `the sleep of "${command}" to be stopped`,
        ms: 10000,
      });
    }
  } finally {
    for (const pid of await sleeping()) Deno.kill(pid, "SIGKILL");
  }
});
