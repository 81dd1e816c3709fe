import assert from "node:assert/strict";
import { UsageError } from "../common/usage_error.ts";
import {
  DEFAULT_SERVICE,
  FALLBACK_PORT,
  idleTimeoutOf,
  maxConnsOf,
  parseTcpservdArgs,
  TCPSERVD_USAGE,
  workerArgs,
} from "./tcpservd_cli.ts";

Deno.test("parseTcpservdArgs() returns the defaults for no arguments", () => {
  assert.deepEqual(parseTcpservdArgs([]), {
    help: false,
    version: false,
    debug: false,
    logFormat: "text",
    reuseAddr: false,
    keepAlive: false,
    keepAliveIdleSecs: undefined,
    badQuit: false,
    service: "tcpservd",
    port: undefined,
    address: "0.0.0.0",
    initialState: "GOOD",
    echo: false,
    engine: undefined,
    workers: 1,
    backlog: 511,
    maxConns: undefined,
    maxConcurrentConns: 0,
    controlFrom: undefined,
    readOnly: false,
    framing: "tcpkit",
    maxTotalConns: 0,
    maxLine: 4096,
    idleTimeoutSecs: undefined,
    lingerTimeoutSecs: undefined,
    noDelay: false,
    sendReset: false,
    drainTimeoutSecs: 10,
    maxLoops: 8,
    faults: [],
    buggy: false,
    leakBits: 0,
    linger: 0,
    takeoverPath: undefined,
    takeoverFrom: undefined,
    handoverTimeoutMs: 5000,
    workerId: undefined,
    sharedState: undefined,
    metrics: undefined,
    sharedMetrics: undefined,
    listenerFrom: undefined,
    name: undefined,
    agentPort: undefined,
    agentBad: "down",
  });
});

Deno.test("parseTcpservdArgs() defaults match the exported constants", () => {
  assert.equal(DEFAULT_SERVICE, "tcpservd");
  assert.equal(FALLBACK_PORT, 1971);
});

Deno.test("parseTcpservdArgs() accepts combined short flags -dkr", () => {
  const cli = parseTcpservdArgs(["-dkr"]);
  assert.equal(cli.debug, true);
  assert.equal(cli.keepAlive, true);
  assert.equal(cli.reuseAddr, true);
  assert.equal(cli.badQuit, false);
});

Deno.test("parseTcpservdArgs() accepts a port glued to -p", () => {
  assert.equal(parseTcpservdArgs(["-p9000"]).port, 9000);
});

Deno.test("parseTcpservdArgs() accepts -p with a separate value and port 0", () => {
  assert.equal(parseTcpservdArgs(["-p", "0"]).port, 0);
  assert.equal(parseTcpservdArgs(["--port", "65535"]).port, 65535);
});

Deno.test("parseTcpservdArgs() accepts --port=N", () => {
  assert.equal(parseTcpservdArgs(["--port=9000"]).port, 9000);
});

Deno.test("parseTcpservdArgs() accepts flags combined with a glued value", () => {
  const cli = parseTcpservdArgs(["-dp9000"]);
  assert.equal(cli.debug, true);
  assert.equal(cli.port, 9000);
});

Deno.test("parseTcpservdArgs() throws UsageError for a value given to a flag", () => {
  assert.throws(() => parseTcpservdArgs(["--debug=yes"]), {
    name: "UsageError",
    message: /--debug/,
  });
});

Deno.test("parseTcpservdArgs() treats words after -- as arguments", () => {
  assert.throws(() => parseTcpservdArgs(["--", "-d"]), {
    name: "UsageError",
    message: "Unexpected argument: -d",
  });
});

Deno.test("parseTcpservdArgs() accepts a service name with -s", () => {
  const cli = parseTcpservdArgs(["-s", "name"]);
  assert.equal(cli.service, "name");
  assert.equal(cli.port, undefined);
});

Deno.test("parseTcpservdArgs() accepts long boolean flags", () => {
  const cli = parseTcpservdArgs([
    "--debug",
    "--reuseaddr",
    "--keepalive",
    "--bad-quit",
  ]);
  assert.deepEqual(
    [cli.debug, cli.reuseAddr, cli.keepAlive, cli.badQuit],
    [true, true, true, true],
  );
});

Deno.test("parseTcpservdArgs() makes --keepalive-idle imply keepalive", () => {
  const cli = parseTcpservdArgs(["--keepalive-idle", "30"]);
  assert.equal(cli.keepAlive, true);
  assert.equal(cli.keepAliveIdleSecs, 30);
});

Deno.test("parseTcpservdArgs() reads help and version", () => {
  assert.equal(parseTcpservdArgs(["-h"]).help, true);
  assert.equal(parseTcpservdArgs(["--version"]).version, true);
  assert.equal(parseTcpservdArgs(["-V"]).version, true);
});

Deno.test("parseTcpservdArgs() reads the address and removes IPv6 brackets", () => {
  assert.equal(parseTcpservdArgs(["-a", "127.0.0.1"]).address, "127.0.0.1");
  assert.equal(parseTcpservdArgs(["--address", "[::1]"]).address, "::1");
  assert.equal(parseTcpservdArgs(["-a", "::"]).address, "::");
});

Deno.test("parseTcpservdArgs() reads the numeric limits", () => {
  const cli = parseTcpservdArgs([
    "--max-conns",
    "5",
    "--max-line",
    "16",
    "--idle-timeout",
    "0.5",
    "--drain-timeout",
    "0",
    "--max-loops",
    "0",
  ]);
  assert.deepEqual(
    [
      cli.maxConns,
      cli.maxLine,
      cli.idleTimeoutSecs,
      cli.drainTimeoutSecs,
      cli.maxLoops,
    ],
    [5, 16, 0.5, 0, 0],
  );
});

Deno.test("parseTcpservdArgs() reads the initial state in any case", () => {
  assert.equal(
    parseTcpservdArgs(["--initial-state", "bad"]).initialState,
    "BAD",
  );
  assert.equal(
    parseTcpservdArgs(["--initial-state", "GOOD"]).initialState,
    "GOOD",
  );
});

Deno.test("parseTcpservdArgs() reads the log format", () => {
  assert.equal(parseTcpservdArgs(["--log-format", "json"]).logFormat, "json");
});

Deno.test("parseTcpservdArgs() throws UsageError for port 70000", () => {
  assert.throws(() => parseTcpservdArgs(["-p", "70000"]), {
    name: "UsageError",
    message: /70000/,
  });
});

Deno.test("parseTcpservdArgs() throws UsageError for --initial-state ugly", () => {
  assert.throws(() => parseTcpservdArgs(["--initial-state", "ugly"]), {
    name: "UsageError",
    message: /--initial-state.*ugly/,
  });
});

Deno.test("parseTcpservdArgs() throws UsageError for --log-format xml", () => {
  assert.throws(() => parseTcpservdArgs(["--log-format", "xml"]), {
    name: "UsageError",
    message: /--log-format.*xml/,
  });
});

Deno.test("parseTcpservdArgs() throws UsageError for --max-line 1", () => {
  assert.throws(() => parseTcpservdArgs(["--max-line", "1"]), {
    name: "UsageError",
    message: /--max-line/,
  });
});

Deno.test("parseTcpservdArgs() throws UsageError for --keepalive-idle 0 and garbage", () => {
  assert.throws(() => parseTcpservdArgs(["--keepalive-idle", "0"]), UsageError);
  assert.throws(
    () => parseTcpservdArgs(["--keepalive-idle", "soon"]),
    UsageError,
  );
});

Deno.test("parseTcpservdArgs() throws UsageError for a bad --max-conns", () => {
  assert.throws(() => parseTcpservdArgs(["--max-conns", "-1"]), UsageError);
  assert.throws(() => parseTcpservdArgs(["--max-conns", "1.5"]), UsageError);
  // 0 means no limit.
  assert.equal(parseTcpservdArgs(["--max-conns", "0"]).maxConns, 0);
});

Deno.test("parseTcpservdArgs() throws UsageError for an empty address or service", () => {
  assert.throws(() => parseTcpservdArgs(["-a", ""]), UsageError);
  assert.throws(() => parseTcpservdArgs(["-s", " "]), UsageError);
});

Deno.test("parseTcpservdArgs() throws a one-line UsageError for the unknown flag -x", () => {
  assert.throws(() => parseTcpservdArgs(["-x"]), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /-x/);
    assert.ok(!error.message.includes("\n"), error.message);
    return true;
  });
});

Deno.test("parseTcpservdArgs() throws UsageError for an option without its value", () => {
  assert.throws(() => parseTcpservdArgs(["--port"]), {
    name: "UsageError",
    message: /--port/,
  });
  assert.throws(() => parseTcpservdArgs(["-d", "-p"]), {
    name: "UsageError",
    message: /-p/,
  });
});

Deno.test("parseTcpservdArgs() throws UsageError for an extra positional argument", () => {
  assert.throws(() => parseTcpservdArgs(["-d", "extra"]), {
    name: "UsageError",
    message: "Unexpected argument: extra",
  });
});

Deno.test("TCPSERVD_USAGE lists every long option", () => {
  for (
    const option of [
      "--help",
      "--version",
      "--debug",
      "--reuseaddr",
      "--keepalive",
      "--keepalive-idle",
      "--bad-quit",
      "--service",
      "--port",
      "--address",
      "--initial-state",
      "--engine",
      "--max-conns",
      "--max-line",
      "--idle-timeout",
      "--drain-timeout",
      "--max-loops",
      "--log-format",
    ]
  ) {
    assert.ok(TCPSERVD_USAGE.includes(option), option);
  }
});

Deno.test("idleTimeoutOf() and maxConnsOf() default by mode", () => {
  const command = parseTcpservdArgs([]);
  const echo = parseTcpservdArgs(["--echo"]);
  assert.equal(idleTimeoutOf(command), 300);
  assert.equal(idleTimeoutOf(echo), 10);
  assert.equal(
    idleTimeoutOf(parseTcpservdArgs(["--echo", "--idle-timeout", "0"])),
    0,
  );
  assert.equal(maxConnsOf(command), 10000);
  assert.equal(maxConnsOf(echo), 0);
});

Deno.test("parseTcpservdArgs() reads tcp-echo's options", () => {
  const cli = parseTcpservdArgs([
    "--echo",
    "-w",
    "4",
    "--connection-backlog",
    "128",
    "--max-connections",
    "100",
    "--max-concurrent-connections",
    "10",
    "--linger-timeout",
    "10",
    "--keepalive-delay",
    "5",
    "--nodelay",
    "--send-reset",
  ]);
  assert.equal(cli.echo, true);
  assert.equal(cli.workers, 4);
  assert.equal(cli.backlog, 128);
  assert.equal(cli.maxTotalConns, 100);
  assert.equal(cli.maxConcurrentConns, 10);
  assert.equal(cli.lingerTimeoutSecs, 10);
  assert.equal(cli.keepAliveIdleSecs, 5);
  assert.equal(cli.keepAlive, true);
  assert.equal(cli.noDelay, true);
  assert.equal(cli.sendReset, true);
  assert.throws(
    () =>
      parseTcpservdArgs(["--keepalive-idle", "5", "--keepalive-delay", "5"]),
    UsageError,
  );
  assert.throws(() => parseTcpservdArgs(["-w", "-1"]), UsageError);
  assert.throws(() => parseTcpservdArgs(["-w", "257"]), UsageError);
});

Deno.test("workerArgs() round-trips the options a worker needs", () => {
  const master = parseTcpservdArgs([
    "-dkrb",
    "--echo",
    "-w",
    "3",
    "-a",
    "::1",
    "--initial-state",
    "bad",
    "--keepalive-idle",
    "30",
    "--max-conns",
    "50",
    "--idle-timeout",
    "2.5",
    "--linger-timeout",
    "7",
    "--nodelay",
    "--send-reset",
    "--max-line",
    "100",
    "--log-format",
    "json",
    "--engine",
    "deno",
  ]);
  const worker = parseTcpservdArgs(workerArgs(master, 4321, 2, "/proc/1/fd/9"));
  assert.deepEqual(worker, {
    ...master,
    port: 4321,
    workers: 1,
    workerId: 2,
    sharedState: "/proc/1/fd/9",
  });
});

Deno.test("parseTcpservdArgs() reads faults and the buggy mode", () => {
  const cli = parseTcpservdArgs([
    "--fault",
    "delay ms=5",
    "--fault",
    "reset,p=0.5",
    "--buggy",
    "-L",
    "1",
    "--linger",
    "-1",
  ]);
  assert.deepEqual(cli.faults, ["delay ms=5", "reset,p=0.5"]);
  assert.equal(cli.buggy, true);
  assert.equal(cli.port, 7777, "buggy-tcpserver's port by default");
  assert.equal(cli.leakBits, 1);
  assert.equal(cli.linger, -1);
  assert.equal(parseTcpservdArgs(["--buggy", "-p", "0"]).port, 0);
  assert.throws(() => parseTcpservdArgs(["--fault", "nope"]), UsageError);
  assert.throws(() => parseTcpservdArgs(["--buggy", "--echo"]), UsageError);
  assert.throws(() => parseTcpservdArgs(["-L", "4"]), UsageError);
});

Deno.test("parseTcpservdArgs() reads the takeover options and refuses what cannot go with them", () => {
  const cli = parseTcpservdArgs([
    "--takeover",
    "/tmp/t.sock",
    "--handover-timeout",
    "250",
  ]);
  assert.equal(cli.takeoverPath, "/tmp/t.sock");
  assert.equal(cli.handoverTimeoutMs, 250);
  assert.equal(
    parseTcpservdArgs(["--takeover-from", "/tmp/t.sock"]).takeoverFrom,
    "/tmp/t.sock",
  );
  assert.throws(
    () => parseTcpservdArgs(["--takeover", "/tmp/t", "-w", "2"]),
    UsageError,
  );
  assert.throws(
    () => parseTcpservdArgs(["--takeover", "/tmp/t", "--buggy"]),
    UsageError,
  );
  assert.throws(
    () => parseTcpservdArgs(["--takeover-from", "/tmp/t", "--fault", "hang"]),
    UsageError,
  );
  assert.throws(() => parseTcpservdArgs(["--takeover", ""]), UsageError);
});

Deno.test("parseTcpservdArgs() reads --engine and refuses what cannot go with it", () => {
  assert.equal(parseTcpservdArgs(["--echo"]).engine, undefined);
  assert.equal(
    parseTcpservdArgs(["--echo", "--engine", "epoll"]).engine,
    "epoll",
  );
  assert.equal(parseTcpservdArgs(["--echo", "--engine=deno"]).engine, "deno");
  assert.equal(
    parseTcpservdArgs(["--echo", "--engine", "deno", "--fault", "delay ms=5"])
      .engine,
    "deno",
  );
  const refused: [string[], RegExp][] = [
    [["--echo", "--engine", "uring"], /--engine: "uring" \(epoll or deno\)/],
    [["--engine", "epoll"], /--engine needs --echo/],
    [
      ["--echo", "--engine", "epoll", "--fault", "delay ms=5"],
      /use --engine deno/,
    ],
    [["--echo", "--engine", "deno", "--takeover", "/tmp/x"], /--takeover/],
  ];
  for (const [args, message] of refused) {
    assert.throws(() => parseTcpservdArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("parseTcpservdArgs() reads --control-from and --read-only, and passes them to workers", () => {
  const cli = parseTcpservdArgs([
    "--control-from",
    "127.0.0.0/8, 192.0.2.0/24",
  ]);
  assert.deepEqual(cli.controlFrom?.map((r) => r.text), [
    "127.0.0.0/8",
    "192.0.2.0/24",
  ]);
  const args = workerArgs(cli, 1971, 1, "/dev/shm/x");
  assert.equal(
    args[args.indexOf("--control-from") + 1],
    "127.0.0.0/8,192.0.2.0/24",
  );
  const readOnly = parseTcpservdArgs(["--read-only"]);
  assert.equal(readOnly.readOnly, true);
  assert.ok(
    workerArgs(readOnly, 1971, 1, "/dev/shm/x").includes("--read-only"),
  );
});

Deno.test("parseTcpservdArgs() refuses bad or conflicting control options", () => {
  assert.throws(
    () => parseTcpservdArgs(["--control-from", "10.0.0.0/33"]),
    /--control-from: Invalid address range "10.0.0.0\/33"/,
  );
  assert.throws(
    () => parseTcpservdArgs(["--control-from", "example.org"]),
    UsageError,
  );
  assert.throws(
    () => parseTcpservdArgs(["--read-only", "--control-from", "::1"]),
    /not both/,
  );
  assert.throws(
    () => parseTcpservdArgs(["--echo", "--read-only"]),
    /command mode/,
  );
});

Deno.test("parseTcpservdArgs() reads --framing and passes it to workers", () => {
  const cli = parseTcpservdArgs(["--framing", "original"]);
  assert.equal(cli.framing, "original");
  const args = workerArgs(cli, 1971, 1, "/dev/shm/x");
  assert.equal(args[args.indexOf("--framing") + 1], "original");
  assert.throws(
    () => parseTcpservdArgs(["--framing", "nul"]),
    /tcpkit or original/,
  );
  assert.throws(
    () => parseTcpservdArgs(["--echo", "--framing", "original"]),
    /command mode/,
  );
});

Deno.test("parseTcpservdArgs() reads --name and passes it to workers", () => {
  const cli = parseTcpservdArgs(["--name", "node-a"]);
  assert.equal(cli.name, "node-a");
  const args = workerArgs(cli, 1971, 1, "/dev/shm/x");
  assert.equal(args[args.indexOf("--name") + 1], "node-a");
  assert.equal(parseTcpservdArgs([]).name, undefined);
  for (const bad of ["", "a b", "x".repeat(256), "n\u00e9"]) {
    assert.throws(() => parseTcpservdArgs(["--name", bad]), /--name/, bad);
  }
});

Deno.test("parseTcpservdArgs() reads the agent options and refuses what cannot go with them", () => {
  const cli = parseTcpservdArgs(["--agent-port", "0", "--agent-bad", "drain"]);
  assert.equal(cli.agentPort, 0);
  assert.equal(cli.agentBad, "drain");
  assert.equal(parseTcpservdArgs(["--agent-port", "9"]).agentBad, "down");
  assert.equal(parseTcpservdArgs([]).agentPort, undefined);
  const refusals: [string[], RegExp][] = [
    [["--agent-port", "70000"], /--agent-port/],
    [["--agent-port", "x"], /--agent-port/],
    [["--agent-port", "9", "--agent-bad", "maint"], /down or drain/],
    [["--agent-bad", "down"], /needs --agent-port/],
    [["--agent-port", "9", "--echo"], /command mode/],
    [["--agent-port", "9", "--buggy"], /command mode/],
    [["--agent-port", "9", "-w", "2"], /single process/],
    [["--agent-port", "9", "--takeover", "/tmp/x"], /takeover/],
  ];
  for (const [args, message] of refusals) {
    assert.throws(() => parseTcpservdArgs(args), message, args.join(" "));
    assert.throws(() => parseTcpservdArgs(args), UsageError, args.join(" "));
  }
});

Deno.test("parseTcpservdArgs() reads --metrics HOST:PORT and refuses it with a takeover", () => {
  assert.deepEqual(parseTcpservdArgs(["--metrics", "127.0.0.1:0"]).metrics, {
    hostname: "127.0.0.1",
    port: 0,
  });
  assert.deepEqual(parseTcpservdArgs(["--metrics", "[::1]:9100"]).metrics, {
    hostname: "::1",
    port: 9100,
  });
  assert.ok(TCPSERVD_USAGE.includes("--metrics HOST:PORT"));
  for (
    const [args, message] of [
      [["--metrics", "9100"], /Invalid value for --metrics/],
      [["--metrics", "127.0.0.1:99999"], /Invalid value for --metrics/],
      [["--shared-metrics", "/proc/1/fd/3"], /--shared-metrics/],
      [["--shared-metrics", "0:/proc/1/fd/3"], /--shared-metrics/],
      [["--metrics", "127.0.0.1:0", "--takeover", "/tmp/x"], /--takeover/],
    ] as const
  ) {
    assert.throws(
      () => parseTcpservdArgs([...args]),
      (e) => e instanceof UsageError && message.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("parseTcpservdArgs() refuses, with --takeover, the options the takeover machinery would ignore", () => {
  for (
    const option of [
      ["--idle-timeout", "5"],
      ["--send-reset"],
      ["--max-connections", "10"],
      ["--drain-timeout", "1"],
      ["--linger-timeout", "1"],
      ["--nodelay"],
      ["-k"],
      ["--keepalive-idle", "30"],
    ]
  ) {
    for (const takeover of ["--takeover", "--takeover-from"]) {
      assert.throws(
        () => parseTcpservdArgs([takeover, "/tmp/t.sock", ...option]),
        (error: unknown) =>
          error instanceof UsageError &&
          error.message.includes("cannot be combined with --takeover"),
        `${takeover} ${option.join(" ")}`,
      );
    }
  }
});

Deno.test("workerArgs() passes the master's metrics region, and workers read it back", () => {
  const cli = parseTcpservdArgs(["-w", "2", "--metrics", "127.0.0.1:0"]);
  assert.deepEqual(cli.metrics, { hostname: "127.0.0.1", port: 0 });
  const region = { count: 2, path: "/proc/1/fd/7" };
  const args = workerArgs(cli, 1971, 2, "/proc/1/fd/6", region);
  assert.ok(!args.includes("--metrics"), "workers serve no endpoint");
  const worker = parseTcpservdArgs(args);
  assert.deepEqual(worker.sharedMetrics, region);
  assert.equal(worker.metrics, undefined);
  assert.ok(!workerArgs(cli, 1971, 2, "/x").includes("--shared-metrics"));
});

Deno.test("workerArgs() passes the master's listener socket, and only a worker takes --listener-from", () => {
  const cli = parseTcpservdArgs(["-w", "2", "--echo"]);
  const path = "/tmp/tcpservd-abc123/listener.sock";
  const args = workerArgs(cli, 0, 2, "/proc/1/fd/6", undefined, path);
  assert.equal(parseTcpservdArgs(args).listenerFrom, path);
  assert.ok(!workerArgs(cli, 0, 2, "/x").includes("--listener-from"));
  assert.throws(
    () => parseTcpservdArgs(["--listener-from", path]),
    /--listener-from is for a worker \(--worker N\)/,
  );
  assert.throws(
    () => parseTcpservdArgs(["--worker", "1", "--listener-from", ""]),
    /Invalid value for --listener-from/,
  );
  assert.match(TCPSERVD_USAGE, /--listener-from PATH/);
});
