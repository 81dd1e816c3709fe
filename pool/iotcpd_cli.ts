/**
 * iotcpd's command line: options, defaults and the help text.
 */
import {
  parseCommandLine,
  parseHost,
  parseNumberOption,
  parsePort,
  UsageError,
} from "../common/mod.ts";
import { type LogFormat, parseLogFormat } from "../logging/mod.ts";
import { daemonArgv } from "./daemon_command.ts";
import { DEFAULT_PORT, type IotcpdOptions } from "./iotcpd.ts";
import {
  type MetricsAddress,
  parseMetricsAddress,
} from "../metrics/metrics_address.ts";

/** The daemon command line when `-d` is not given. */
export const DEFAULT_DAEMON = "cat";

/** The usage text printed by `--help` and after a usage error. */
export const IOTCPD_USAGE = `USAGE:
  iotcpd [OPTIONS]

  A stdio-to-TCP redirector. Keeps N long-lived daemons that read request
  lines on stdin and answer each with one line on stdout (squidGuard and
  other Squid helpers work this way), and hands each line received over TCP
  to a free daemon, byte for byte (a CRLF stays a CRLF). The daemon's reply
  line goes back, then the connection closes. Every failure is answered
  with "ERR": no daemon free in time, a line too long or cut by end of
  stream, a daemon that died or passed the busy timeout.

OPTIONS:
  -h, --help                 Print this help and exit
  -V, --version              Print the version and exit (-v too)
  -d, --daemon CMD           The daemon command (default: cat); split into words
                             like a shell would ('…', "…", \\), but run without one
      --shell                Run CMD with /bin/sh -c (use "exec prog …" in CMD)
  -i, --ipv4 IP              Address to listen on (default 127.0.0.1; "" for none)
  -I, --ipv6 IP              An extra listener on the same port, e.g. ::1
                             (for :: on all families use -i "" -I ::)
  -p, --port N               Port (default ${DEFAULT_PORT}); 0 picks a free one
  -n, --num-daemons N        Number of daemons, 1 to 1024 (default 4)
  -b, --busy-timeout SECS    A daemon busy this long is killed (SIGTERM, then
                             SIGKILL) and respawned; its request gets ERR (default 15)
  -a, --alarm-interval SECS  The housekeeping tick: busy-timeout checks, idle
                             clients (default 2)
      --queue-timeout MS     How long a request waits for a free daemon (default 500)
      --keep-alive           Further lines on a connection are further requests
      --max-line BYTES       Longest request line and reply line (default 4096)
      --max-conns N          Client connections at once, per listener; more get
                             ERR (default 1024; 0 no limit)
      --idle-timeout SECS    Close a client that sends no complete line for this
                             long; a started line gets ERR. Reset a client that
                             leaves a reply unread this long (default 30; 0 never)
      --stats-json FILE      Also write the statistics and the daemon table as
                             JSON to FILE (at start, on SIGUSR1 and SIGUSR2)
      --metrics HOST:PORT    Serve Prometheus metrics at http://HOST:PORT/metrics
                             (port 0 picks one; "metrics on HOST:PORT" is logged)
      --log-format FORMAT    text or json (default text)
      --debug                Log debug records

SIGNALS:
  SIGUSR1   print the statistics block on stderr (the original's format);
            note: Deno 2.9.2 and later also start their debugger on
            127.0.0.1:9229 at the first SIGUSR1 (no way to turn it off):
            where local users are untrusted, use SIGUSR2 or --stats-json
  SIGUSR2   print the per-daemon table on stderr
  SIGHUP    restart every daemon; requests in progress finish first
  SIGTERM, SIGINT, SIGQUIT
            stop accepting, finish the requests in progress (a line still
            on its way gets 1 s to arrive; a client still owed an answer
            then gets ERR), stop the daemons, exit 0; a second signal a
            second later exits at once

Prints "listening on HOST:PORT" on stderr once per listener, when ready.
Under systemd (contrib/systemd/): listening TCP sockets passed by socket
activation (LISTEN_FDS, LISTEN_PID) are served instead of -i/-I/-p. With
NOTIFY_SOCKET: READY=1 once listening, STATUS=, STOPPING=1 on a stop
signal, WATCHDOG=1 every WATCHDOG_USEC/2.
`;

/** The parsed command line. */
export interface IotcpdCli {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** Log debug records. */
  debug: boolean;
  /** Log format. */
  logFormat: LogFormat;
  /** The daemon's argv (after splitting, or `/bin/sh -c CMD`). */
  command: string[];
  /** First listener's address, `""` for none. */
  ipv4: string;
  /** Extra listener's address, if any. */
  ipv6: string | undefined;
  /** Port; 0 for any. */
  port: number;
  /** Number of daemons. */
  numDaemons: number;
  /** Busy timeout, in seconds. */
  busyTimeoutSecs: number;
  /** Housekeeping tick, in seconds. */
  alarmIntervalSecs: number;
  /** Queue timeout, in ms. */
  queueTimeoutMs: number;
  /** Several requests per connection. */
  keepAlive: boolean;
  /** Line limit, in bytes. */
  maxLine: number;
  /** Connections at once per listener; 0 no limit. */
  maxConns: number;
  /** Idle client timeout, in seconds; 0 never. */
  idleTimeoutSecs: number;
  /** Where to write the JSON statistics, if anywhere. */
  statsJson: string | undefined;
  /** Where to serve Prometheus metrics, if anywhere. */
  metrics: MetricsAddress | undefined;
}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  // The original's -v: a silent alias of --version.
  v: { type: "boolean", short: "v" },
  debug: { type: "boolean" },
  daemon: { type: "string", short: "d" },
  shell: { type: "boolean" },
  ipv4: { type: "string", short: "i" },
  ipv6: { type: "string", short: "I" },
  port: { type: "string", short: "p" },
  "num-daemons": { type: "string", short: "n" },
  "busy-timeout": { type: "string", short: "b" },
  "alarm-interval": { type: "string", short: "a" },
  "queue-timeout": { type: "string" },
  "keep-alive": { type: "boolean" },
  "max-line": { type: "string" },
  "max-conns": { type: "string" },
  "idle-timeout": { type: "string" },
  "stats-json": { type: "string" },
  metrics: { type: "string" },
  "log-format": { type: "string" },
} as const;

/**
 * Parses iotcpd's arguments. The original's short options keep their
 * meaning; with no arguments iotcpd runs with the defaults (the original
 * printed its help).
 *
 * @throws {UsageError} for unknown options, bad values or extra arguments.
 */
export function parseIotcpdArgs(args: string[]): IotcpdCli {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument: ${positionals[0]}`);
  }
  const logFormat = parseLogFormat(values["log-format"]);
  let command: string[];
  try {
    command = daemonArgv(values.daemon ?? DEFAULT_DAEMON, {
      shell: values.shell ?? false,
    });
  } catch (error) {
    throw new UsageError(
      `Invalid value for --daemon: ${(error as Error).message}`,
    );
  }
  const ipv4 = values.ipv4 === undefined || values.ipv4.trim() === ""
    ? (values.ipv4 === undefined ? "127.0.0.1" : "")
    : parseHost(values.ipv4);
  const ipv6 = values.ipv6 === undefined ? undefined : parseHost(values.ipv6);
  if (ipv4 === "" && ipv6 === undefined) {
    throw new UsageError("No address to listen on: give -i or -I");
  }
  const statsJson = values["stats-json"];
  if (
    statsJson !== undefined && (statsJson === "" || statsJson.includes("\0"))
  ) {
    throw new UsageError(`Invalid value for --stats-json: "${statsJson}"`);
  }
  return {
    help: values.help ?? false,
    version: (values.version ?? false) || (values.v ?? false),
    debug: values.debug ?? false,
    logFormat,
    command,
    ipv4,
    ipv6,
    port: values.port === undefined ? DEFAULT_PORT : parsePort(values.port),
    numDaemons: parseNumberOption(
      "--num-daemons",
      values["num-daemons"] ?? "4",
      { min: 1, max: 1024 },
    ),
    busyTimeoutSecs: parseNumberOption(
      "--busy-timeout",
      values["busy-timeout"] ?? "15",
      { min: 0.1, max: 86400, fractional: true },
    ),
    alarmIntervalSecs: parseNumberOption(
      "--alarm-interval",
      values["alarm-interval"] ?? "2",
      { min: 0.05, max: 3600, fractional: true },
    ),
    queueTimeoutMs: parseNumberOption(
      "--queue-timeout",
      values["queue-timeout"] ?? "500",
      { max: 3_600_000 },
    ),
    keepAlive: values["keep-alive"] ?? false,
    maxLine: parseNumberOption("--max-line", values["max-line"] ?? "4096", {
      min: 16,
      max: 16 << 20,
    }),
    maxConns: parseNumberOption("--max-conns", values["max-conns"] ?? "1024", {
      max: 1 << 20,
    }),
    idleTimeoutSecs: parseNumberOption(
      "--idle-timeout",
      values["idle-timeout"] ?? "30",
      { max: 86400, fractional: true },
    ),
    statsJson,
    metrics: values.metrics === undefined
      ? undefined
      : parseMetricsAddress(values.metrics),
  };
}

/** The library options that a parsed command line asks for. */
export function iotcpdOptionsOf(cli: IotcpdCli): IotcpdOptions {
  return {
    command: cli.command,
    hostname: cli.ipv4,
    ...(cli.ipv6 === undefined ? {} : { hostname6: cli.ipv6 }),
    port: cli.port,
    numDaemons: cli.numDaemons,
    busyTimeoutMs: Math.round(cli.busyTimeoutSecs * 1000),
    tickMs: Math.round(cli.alarmIntervalSecs * 1000),
    queueTimeoutMs: cli.queueTimeoutMs,
    keepAlive: cli.keepAlive,
    maxLine: cli.maxLine,
    maxConns: cli.maxConns,
    idleTimeoutMs: Math.round(cli.idleTimeoutSecs * 1000),
  };
}
