/**
 * `takeover server`'s command line: options, defaults and help text.
 *
 * @module
 */

import {
  parseCommandLine,
  parseHost,
  parseNumberOption,
  parsePort,
  UsageError,
} from "../common/mod.ts";
import { type LogFormat, parseLogFormat } from "../logging/mod.ts";
import { DEFAULT_HANDOVER_TIMEOUT_MS } from "./protocol.ts";
import {
  type MetricsAddress,
  parseMetricsAddress,
} from "../metrics/metrics_address.ts";

/** The listen queue length unless `-b` says otherwise. */
export const DEFAULT_BACKLOG = 511;

/** The usage text of `takeover server`. */
export const SERVER_USAGE = `USAGE:
  takeover server -a ADDR -p PORT [-b BACKLOG] [-t PATH] [OPTIONS]
  takeover server -T PATH [-t PATH] [OPTIONS]

  A seqnum server (every 4-byte big-endian seqnum is echoed back) whose
  listener and live connections move to a new process without a loss.
  With -t it offers them on the Unix socket PATH (mode 0600); a new
  "takeover server -T PATH" takes them all over (with the bytes read but not
  yet answered, and the application state), then offers PATH in turn, so
  handovers chain. The old process then exits 0. If the new process dies or
  does not acknowledge within --handover-timeout, the old one resumes.

OPTIONS:
  -a, --listen-address ADDR   IP address to listen on (0.0.0.0, ::, 127.0.0.1, ::1)
  -p, --listen-port PORT      Port; 0 picks a free one
  -b, --listen-backlog N      Listen queue length: where new connections wait
                              during a handover (default ${DEFAULT_BACKLOG})
  -t, --takeover-path PATH    Offer this process's sockets on PATH; refused if
                              PATH holds anything but a stale socket (a file,
                              a directory, a server still offering there)
  -T, --takeover PATH         Take over the process offering at PATH (it must
                              run as our uid or root); then offer PATH (or
                              -t's) in turn
      --handover-timeout MS   How long a handover may take before the old
                              process resumes, and the new one gives up
                              (default ${DEFAULT_HANDOVER_TIMEOUT_MS})
      --max-conns N           Connections served at once; at N, new ones
                              wait in the listen queue until one closes
                              (default: no limit)
      --metrics HOST:PORT     Serve Prometheus metrics at http://HOST:PORT/metrics
                              (port 0 picks one; "metrics on HOST:PORT" is
                              logged); after a handover the new process takes
                              the same address over
  -d, --debug                 Log debug records: connections, handover phases
      --log-seqnums           Log every seqnum, as the original did
                              ("[127.0.0.1]:57796 - seqnum:20"); implies -d
      --log-format FORMAT     text or json (default text)
  -h, --help                  Print this help and exit
  -V, --version               Print the version and exit

Socket activation: when systemd passes listening TCP sockets (LISTEN_FDS,
LISTEN_PID), it serves those; -a, -p and -b are then optional and ignored,
and -T cannot be used. With NOTIFY_SOCKET it sends READY=1, STATUS=,
STOPPING=1 and, with WATCHDOG_USEC, WATCHDOG=1 (see contrib/systemd/).

Logs "listening on HOST:PORT" on stderr once it accepts; after a takeover,
"took over N connections and 1 listener from PATH …" first. A refused
takeover (by the old process, or by us: it runs as another user, or sent
sockets that are not what it described) exits 77, one that failed (nothing
at PATH, timeout, the old process went away) 69. SIGTERM or SIGINT close
every connection and exit 0; SIGUSR1 logs counts.
`;

/** The parsed command line of `takeover server`. */
export interface ServerCli {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** Log debug records. */
  debug: boolean;
  /** Log every seqnum. */
  logSeqnums: boolean;
  /** Log format. */
  logFormat: LogFormat;
  /** Listen address (not with -T). */
  address: string | undefined;
  /** Listen port (not with -T). */
  port: number | undefined;
  /** Listen backlog. */
  backlog: number;
  /** The path to offer on, if any. */
  offerPath: string | undefined;
  /** The path to take over from, if any. */
  takeoverFrom: string | undefined;
  /** Handover timeout in ms. */
  handoverTimeoutMs: number;
  /** Most connections served at once (`undefined`: no limit). */
  maxConns: number | undefined;
  /** Where to serve Prometheus metrics, if anywhere. */
  metrics: MetricsAddress | undefined;
}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  debug: { type: "boolean", short: "d" },
  "log-seqnums": { type: "boolean" },
  "log-format": { type: "string" },
  "listen-address": { type: "string", short: "a" },
  "listen-port": { type: "string", short: "p" },
  "listen-backlog": { type: "string", short: "b" },
  "takeover-path": { type: "string", short: "t" },
  takeover: { type: "string", short: "T" },
  "handover-timeout": { type: "string" },
  "max-conns": { type: "string" },
  metrics: { type: "string" },
} as const;

function parsePath(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (text === "" || text.includes("\0")) {
    throw new UsageError(`Invalid value for ${name}: "${text}"`);
  }
  // sockaddr_un holds 107 bytes; the offer binds PATH.<pid> first.
  if (new TextEncoder().encode(text).length > 96) {
    throw new UsageError(
      `Invalid value for ${name}: the path is longer than 96 bytes`,
    );
  }
  return text;
}

/** What `parseServerArgs` needs to know about the process. */
export interface ServerArgsContext {
  /** systemd passed listening sockets: `-a`/`-p` are not needed, `-T` is refused. */
  socketActivated?: boolean;
}

/**
 * Parses `takeover server`'s arguments. The original's short flags keep
 * their meaning.
 *
 * @param args The arguments after `server`.
 * @param context Whether systemd passed sockets.
 * @returns The parsed command line.
 * @throws {UsageError} For unknown options, bad values, or a missing `-a`/`-p`.
 */
export function parseServerArgs(
  args: string[],
  context: ServerArgsContext = {},
): ServerCli {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument: ${positionals[0]}`);
  }
  const logFormat = parseLogFormat(values["log-format"]);
  const help = values.help ?? false;
  const version = values.version ?? false;
  const takeoverFrom = parsePath("-T", values.takeover);
  const offerPath = parsePath("-t", values["takeover-path"]) ?? takeoverFrom;
  const address = values["listen-address"] === undefined
    ? undefined
    : parseHost(values["listen-address"]);
  const port = values["listen-port"] === undefined
    ? undefined
    : parsePort(values["listen-port"]);
  const backlogGiven = values["listen-backlog"] !== undefined;
  const backlog = parseNumberOption(
    "-b",
    values["listen-backlog"] ?? String(DEFAULT_BACKLOG),
    { min: 1, max: 65535 },
  );
  if (!help && !version) {
    if (context.socketActivated) {
      if (takeoverFrom !== undefined) {
        throw new UsageError(
          "-T cannot be used when systemd passes sockets (LISTEN_FDS): the listener would come from two places",
        );
      }
    } else if (takeoverFrom !== undefined) {
      if (address !== undefined || port !== undefined || backlogGiven) {
        throw new UsageError(
          "-a, -p and -b cannot be used with -T: the listener comes from the old process",
        );
      }
    } else if (address === undefined || port === undefined) {
      throw new UsageError(
        "Give -a ADDR and -p PORT to listen, or -T PATH to take over",
      );
    }
  }
  return {
    help,
    version,
    debug: (values.debug ?? false) || (values["log-seqnums"] ?? false),
    logSeqnums: values["log-seqnums"] ?? false,
    logFormat,
    address,
    port,
    backlog,
    offerPath,
    takeoverFrom,
    handoverTimeoutMs: parseNumberOption(
      "--handover-timeout",
      values["handover-timeout"] ?? String(DEFAULT_HANDOVER_TIMEOUT_MS),
      { min: 1, max: 3_600_000 },
    ),
    maxConns: values["max-conns"] === undefined
      ? undefined
      : parseNumberOption("--max-conns", values["max-conns"], {
        min: 1,
        max: 1 << 20,
      }),
    metrics: values.metrics === undefined
      ? undefined
      : parseMetricsAddress(values.metrics),
  };
}
