/**
 * tcpservd's command line: options, defaults and the help text.
 */
import {
  parseCommandLine,
  parseHost,
  parseNumberOption,
  parsePort,
  UsageError,
} from "../common/mod.ts";
import { LOG_FORMATS, type LogFormat } from "../logging/mod.ts";
import { type Health, parseHealth } from "./health_state.ts";

/** The port used when the service name is not in /etc/services. */
export const FALLBACK_PORT = 1971;
/** The service name looked up by default. */
export const DEFAULT_SERVICE = "tcpservd";

/** The usage text printed by `--help` and after a usage error. */
export const TCPSERVD_USAGE = `USAGE:
  tcpservd [OPTIONS]

  A test TCP server whose health (GOOD/BAD) is flipped by its clients.
  Commands: help, version, hostname, getstatus, setbad, setgood,
  startloop [SECONDS], quit; any other line is echoed back.

OPTIONS:
  -h, --help                 Print this help and exit
  -V, --version              Print the version and exit
  -d, --debug                Log debug records
  -r, --reuseaddr            SO_REUSEADDR on the listener (read back and logged)
  -k, --keepalive            SO_KEEPALIVE on accepted sockets
      --keepalive-idle SECS  TCP_KEEPIDLE on accepted sockets (implies -k)
  -b, --bad-quit             quit answers BAD instead of QUIT while the state is BAD
  -s, --service NAME         Port from /etc/services (default: tcpservd, else 1971)
  -p, --port N               Port; overrides -s; 0 picks a free port
  -a, --address ADDR         Address to listen on (default 0.0.0.0; :: and IPv6 work)
      --initial-state S      good or bad (default good)
      --max-conns N          Connections served at once; more are refused (default 10000)
      --max-line BYTES       Longest request line (default 4096)
      --idle-timeout SECS    Close connections idle this long; 0 never (default 300)
      --drain-timeout SECS   On SIGTERM/SIGINT, wait this long for clients (default 10)
      --max-loops N          startloop commands running at once (default 8)
      --log-format FORMAT    text or json (default text)

Prints "listening on HOST:PORT" on stderr once it accepts. SIGTERM or SIGINT
drain the connections, then exit 0.
`;

/** The parsed command line. */
export interface TcpservdCli {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** Log debug records. */
  debug: boolean;
  /** Log format. */
  logFormat: LogFormat;
  /** Read back SO_REUSEADDR. */
  reuseAddr: boolean;
  /** SO_KEEPALIVE on accepted sockets. */
  keepAlive: boolean;
  /** TCP_KEEPIDLE in seconds, if given. */
  keepAliveIdleSecs: number | undefined;
  /** quit answers BAD while BAD. */
  badQuit: boolean;
  /** Service name to look up when no port is given. */
  service: string;
  /** Explicit port, if given. */
  port: number | undefined;
  /** Listen address. */
  address: string;
  /** State at start. */
  initialState: Health;
  /** Connection limit. */
  maxConns: number;
  /** Line limit in bytes. */
  maxLine: number;
  /** Idle timeout in seconds; 0 disables. */
  idleTimeoutSecs: number;
  /** Drain timeout in seconds. */
  drainTimeoutSecs: number;
  /** Concurrent startloops. */
  maxLoops: number;
}

/**
 * Parses tcpservd's arguments. The original's short flags keep their
 * meaning and combine (`-dkr`).
 *
 * @throws {UsageError} for unknown options, bad values or extra arguments.
 */
export function parseTcpservdArgs(args: string[]): TcpservdCli {
  const { values, positionals } = parseCommandLine(args, {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
    debug: { type: "boolean", short: "d" },
    reuseaddr: { type: "boolean", short: "r" },
    keepalive: { type: "boolean", short: "k" },
    "keepalive-idle": { type: "string" },
    "bad-quit": { type: "boolean", short: "b" },
    service: { type: "string", short: "s" },
    port: { type: "string", short: "p" },
    address: { type: "string", short: "a" },
    "initial-state": { type: "string" },
    "max-conns": { type: "string" },
    "max-line": { type: "string" },
    "idle-timeout": { type: "string" },
    "drain-timeout": { type: "string" },
    "max-loops": { type: "string" },
    "log-format": { type: "string" },
  });
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument: ${positionals[0]}`);
  }
  const logFormat = values["log-format"] ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new UsageError(
      `Invalid value for --log-format: "${logFormat}" (text or json)`,
    );
  }
  const stateText = values["initial-state"] ?? "good";
  const initialState = parseHealth(stateText);
  if (!initialState) {
    throw new UsageError(
      `Invalid value for --initial-state: "${stateText}" (good or bad)`,
    );
  }
  const service = values.service ?? DEFAULT_SERVICE;
  if (service.trim() === "" || service.includes("\0")) {
    throw new UsageError(`Invalid service name: "${service}"`);
  }
  const keepAliveIdle = values["keepalive-idle"];
  return {
    help: values.help ?? false,
    version: values.version ?? false,
    debug: values.debug ?? false,
    logFormat: logFormat as LogFormat,
    reuseAddr: values.reuseaddr ?? false,
    keepAlive: (values.keepalive ?? false) || keepAliveIdle !== undefined,
    keepAliveIdleSecs: keepAliveIdle === undefined
      ? undefined
      : parseNumberOption("--keepalive-idle", keepAliveIdle, {
        min: 1,
        max: 32767,
      }),
    badQuit: values["bad-quit"] ?? false,
    service,
    port: values.port === undefined ? undefined : parsePort(values.port),
    address: parseHost(values.address ?? "0.0.0.0"),
    initialState,
    maxConns: parseNumberOption("--max-conns", values["max-conns"] ?? "10000", {
      min: 1,
    }),
    maxLine: parseNumberOption("--max-line", values["max-line"] ?? "4096", {
      min: 16,
      max: 16 << 20,
    }),
    idleTimeoutSecs: parseNumberOption(
      "--idle-timeout",
      values["idle-timeout"] ?? "300",
      {
        fractional: true,
        max: 86400 * 365,
      },
    ),
    drainTimeoutSecs: parseNumberOption(
      "--drain-timeout",
      values["drain-timeout"] ?? "10",
      {
        fractional: true,
        max: 86400,
      },
    ),
    maxLoops: parseNumberOption("--max-loops", values["max-loops"] ?? "8", {
      min: 0,
      max: 1024,
    }),
  };
}
