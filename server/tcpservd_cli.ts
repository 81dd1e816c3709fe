/**
 * tcpservd's command line: options, defaults and the help text.
 */
import {
  parseCommandLine,
  type ParsedCommandLine,
  parseHost,
  parseNumberOption,
  parsePort,
  UsageError,
} from "../common/mod.ts";
import { type LogFormat, parseLogFormat } from "../logging/mod.ts";
import { BUGGY_PORT } from "./buggy_session.ts";
import { FaultSpecError, MAX_FAULTS, parseFaultSpec } from "./fault_spec.ts";
import { type Health, parseHealth } from "./health_state.ts";
import { AGENT_BAD_WORDS, type AgentBadWord } from "./agent_state.ts";
import { type Cidr, CidrError, parseCidrList } from "../common/cidr.ts";
import type { EchoEngine } from "./tcpservd.ts";
import { parseReplyFraming, type ReplyFraming } from "./reply_framing.ts";
import {
  type MetricsAddress,
  parseMetricsAddress,
} from "../metrics/metrics_address.ts";

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
  With --echo: a byte-transparent echo server (tcp-echo), no prompt.

OPTIONS:
  -h, --help                 Print this help and exit
  -V, --version              Print the version and exit
  -d, --debug                Log debug records
  -r, --reuseaddr            SO_REUSEADDR on the listener (read back and logged)
  -k, --keepalive            SO_KEEPALIVE on accepted sockets
      --keepalive-idle SECS  TCP keepalive after SECS idle (implies -k; alias --keepalive-delay)
  -b, --bad-quit             quit answers BAD instead of QUIT while the state is BAD
  -s, --service NAME         Port from /etc/services (default: tcpservd, else 1971)
  -p, --port N               Port; overrides -s; 0 picks a free port
  -a, --address ADDR         Address to listen on (default 0.0.0.0; :: and IPv6 work)
      --initial-state S      good or bad (default good)
      --echo                 Echo every byte back: no prompt, no commands
      --engine NAME          With --echo: epoll (default: raw sockets, the JS thread
                             waits in epoll_wait; fastest) or deno (Deno.listen;
                             the default with --fault)
  -w, --workers N            N worker processes on one port (SO_REUSEPORT); 0: one per
                             CPU; 1 (default): a single process, no master
      --connection-backlog N Listen queue length (default 511)
      --max-conns N          Connections at once; more are refused (default 10000;
                             with --echo 0 = no limit); per worker
      --max-concurrent-connections N
                             At N connections stop accepting (they wait in the backlog)
                             until one closes; 0 off (default); per worker
      --max-connections N    A worker stops after serving N connections and is
                             replaced; 0 never (default)
      --max-line BYTES       Longest request line (default 4096)
      --idle-timeout SECS    Close connections idle this long; 0 never
                             (default 300; with --echo 10)
      --linger-timeout SECS  TCP_LINGER2 on accepted sockets (FIN-WAIT-2 lifetime)
      --nodelay              TCP_NODELAY on accepted sockets
      --send-reset           Close idle and drained connections with an RST, not a FIN
      --drain-timeout SECS   On SIGTERM/SIGINT, wait this long for clients (default 10)
      --max-loops N          startloop commands running at once (default 8)
      --control-from CIDRS   Only clients in these ranges (comma-separated, e.g.
                             127.0.0.0/8,::1,192.0.2.0/24) may send setbad, setgood,
                             startloop, fault and the agent's set commands (default:
                             fault from loopback only, the others from anyone)
      --read-only            Refuse setbad, setgood, startloop, fault and the agent's
                             set commands from every client: a probe endpoint that
                             is safe to expose
      --framing NAME         tcpkit (default: a reply and the next prompt in one
                             write) or original (every reply padded with NULs to
                             8192 bytes, so the original tcpcli 3.0, which reads
                             one segment per step with no timeout, never blocks)
      --log-format FORMAT    text or json (default text)
      --name NAME            Name in the reply to hostname (default: the host name)

HAPROXY AGENT (agent-check, see contrib/haproxy/):
      --agent-port N         Answer HAProxy's agent-check on port N: one line per
                             connection, "up ready" while GOOD, then "N%" and
                             "maxconn:N" once set; single process only (no -w)
      --agent-bad WORD       What the agent says while BAD: down (default) or drain
                             Commands: setdrain, setready, setweight PERCENT,
                             setmaxconn N, agentstatus

METRICS:
      --metrics HOST:PORT    Serve Prometheus metrics at http://HOST:PORT/metrics
                             (port 0 picks one; "metrics on HOST:PORT" is logged);
                             with -w N the master serves the sums over its
                             workers; not with --takeover(-from)

TAKEOVER (zero-downtime upgrade, see takeover/):
      --takeover PATH        Offer this server (listener, clients, state) on the Unix
                             socket PATH (mode 0600) to a new process
      --takeover-from PATH   Take over a running tcpservd offering PATH, then offer
                             PATH in turn (so upgrades chain)
      --handover-timeout MS  How long a new process may take to acknowledge before
                             the old one rolls back (default 5000)

FAULTS:
      --fault SPEC           Inject a fault (repeatable), e.g. "delay ms=200 jitter=50",
                             "reset after=100 p=0.3 seed=7", "stall-accept"; faults:
                             delay hang close reset halfclose leak stall-accept
                             zero-window drip garbage crash. At run time, the commands
                             fault SPEC | fault list | fault clear do the same.
      --buggy                buggy-tcpserver's own commands (ping, busy<N>, close,
                             big, bug<N>, fork) on its port 7777
  -L, --leak BITS            With --buggy: 1 never closes client sockets, crashes
                             included: no FIN, CLOSE_WAIT once the client closes
      --linger N             With --buggy: 0 (default) ends every connection, crashes
                             included, with an RST; any other N with a FIN

Prints "listening on HOST:PORT" on stderr once it accepts. SIGTERM, SIGINT or
SIGQUIT drain the connections, then exit 0. SIGUSR1 logs connection counts.
SIGHUP clears every runtime fault (the operator's way out of stall-accept or
hang, which no new connection can undo).

Under systemd (contrib/systemd/): a listening TCP socket passed by socket
activation (LISTEN_FDS, LISTEN_PID) is served instead of -a/-p, in every
mode but --takeover-from (exit 64); several only with --takeover PATH. With
-w N the master keeps it (and never accepts on it) and hands each worker a
copy over a private Unix socket (a fresh 0700 directory under TMPDIR or
/tmp, removed at exit). With NOTIFY_SOCKET: READY=1 once listening (with -w
N from the master, once all workers are), STATUS=, STOPPING=1 on a stop
signal, and WATCHDOG=1 every WATCHDOG_USEC/2.

INTERNAL (a master puts these on its workers' command lines):
      --worker N, --shared-state PATH, --shared-metrics N:PATH
      --listener-from PATH   Take the listening socket from the master's Unix
                             socket PATH (SCM_RIGHTS) instead of listening
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
  /** Echo mode. */
  echo: boolean;
  /** The echo I/O engine, if given. */
  engine: EchoEngine | undefined;
  /** Worker processes; 0 means one per CPU, 1 no master. */
  workers: number;
  /** Listen queue length. */
  backlog: number;
  /** Connection limit (refuse), if given. */
  maxConns: number | undefined;
  /** Connection limit (pause accepting); 0 off. */
  maxConcurrentConns: number;
  /** Ranges allowed every control command, if given. */
  controlFrom: Cidr[] | undefined;
  /** Refuse every control command. */
  readOnly: boolean;
  /** How replies are cut on the wire. */
  framing: ReplyFraming;
  /** Connections served before a worker retires; 0 never. */
  maxTotalConns: number;
  /** Line limit in bytes. */
  maxLine: number;
  /** Idle timeout in seconds, if given; 0 disables. */
  idleTimeoutSecs: number | undefined;
  /** TCP_LINGER2 in seconds, if given. */
  lingerTimeoutSecs: number | undefined;
  /** TCP_NODELAY on accepted sockets. */
  noDelay: boolean;
  /** Server-side closes send an RST. */
  sendReset: boolean;
  /** Drain timeout in seconds. */
  drainTimeoutSecs: number;
  /** Concurrent startloops. */
  maxLoops: number;
  /** Fault specs given with `--fault`, as typed (validated). */
  faults: string[];
  /** buggy-tcpserver compatibility mode. */
  buggy: boolean;
  /** Buggy mode `-L` bits. */
  leakBits: number;
  /** Buggy mode `--linger`. */
  linger: number;
  /** Offer a takeover on this Unix socket path. */
  takeoverPath: string | undefined;
  /** Take over from the tcpservd offering this path. */
  takeoverFrom: string | undefined;
  /** Handover acknowledgement timeout, in ms. */
  handoverTimeoutMs: number;
  /** Internal: this process is worker N of a master. */
  workerId: number | undefined;
  /** Internal: path of the master's shared state. */
  sharedState: string | undefined;
  /** Where to serve Prometheus metrics, if anywhere. */
  metrics: MetricsAddress | undefined;
  /** Internal: the master's metrics region, as worker count and path. */
  sharedMetrics: { count: number; path: string } | undefined;
  /** Internal: the master's Unix socket that hands this worker its listener. */
  listenerFrom: string | undefined;
  /** Name in the reply to `hostname`, if given. */
  name: string | undefined;
  /** Port of the HAProxy agent-check responder, if given. */
  agentPort: number | undefined;
  /** What the agent says while BAD. */
  agentBad: AgentBadWord;
}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  debug: { type: "boolean", short: "d" },
  reuseaddr: { type: "boolean", short: "r" },
  keepalive: { type: "boolean", short: "k" },
  "keepalive-idle": { type: "string" },
  "keepalive-delay": { type: "string" },
  "bad-quit": { type: "boolean", short: "b" },
  service: { type: "string", short: "s" },
  port: { type: "string", short: "p" },
  address: { type: "string", short: "a" },
  "initial-state": { type: "string" },
  echo: { type: "boolean" },
  engine: { type: "string" },
  workers: { type: "string", short: "w" },
  "connection-backlog": { type: "string" },
  "max-conns": { type: "string" },
  "max-concurrent-connections": { type: "string" },
  "max-connections": { type: "string" },
  "max-line": { type: "string" },
  "idle-timeout": { type: "string" },
  "linger-timeout": { type: "string" },
  nodelay: { type: "boolean" },
  "send-reset": { type: "boolean" },
  "drain-timeout": { type: "string" },
  "max-loops": { type: "string" },
  "control-from": { type: "string" },
  "read-only": { type: "boolean" },
  framing: { type: "string" },
  "log-format": { type: "string" },
  metrics: { type: "string" },
  "shared-metrics": { type: "string" },
  fault: { type: "string", multiple: true },
  buggy: { type: "boolean" },
  leak: { type: "string", short: "L" },
  linger: { type: "string" },
  takeover: { type: "string" },
  "takeover-from": { type: "string" },
  "handover-timeout": { type: "string" },
  worker: { type: "string" },
  "shared-state": { type: "string" },
  "listener-from": { type: "string" },
  name: { type: "string" },
  "agent-port": { type: "string" },
  "agent-bad": { type: "string" },
} as const;

/** The longest `--name`. */
export const MAX_NAME_LENGTH = 255;

function optional(
  name: string,
  text: string | undefined,
  bounds: Parameters<typeof parseNumberOption>[2],
): number | undefined {
  return text === undefined ? undefined : parseNumberOption(name, text, bounds);
}

type Values = ParsedCommandLine<typeof OPTIONS>["values"];

/** A path option's value: not empty, no NUL. */
function checkPath(name: string, path: string | undefined): string | undefined {
  if (path !== undefined && (path === "" || path.includes("\0"))) {
    throw new UsageError(`Invalid value for ${name}: "${path}"`);
  }
  return path;
}

/** `--keepalive-idle` or its alias `--keepalive-delay` (not both). */
function parseKeepAliveIdle(values: Values): number | undefined {
  const idle = values["keepalive-idle"];
  const delay = values["keepalive-delay"];
  if (idle !== undefined && delay !== undefined) {
    throw new UsageError(
      "Give --keepalive-idle or --keepalive-delay, not both",
    );
  }
  const name = delay !== undefined ? "--keepalive-delay" : "--keepalive-idle";
  return optional(name, idle ?? delay, { min: 1, max: 32767 });
}

/** The `--fault` specs, each checked, at most {@linkcode MAX_FAULTS}. */
function parseFaults(values: Values): string[] {
  const faults = values.fault ?? [];
  for (const spec of faults) {
    try {
      parseFaultSpec(spec);
    } catch (error) {
      if (error instanceof FaultSpecError) {
        throw new UsageError(`Invalid --fault "${spec}": ${error.message}`);
      }
      throw error;
    }
  }
  if (faults.length > MAX_FAULTS) {
    throw new UsageError(`Too many --fault options (limit ${MAX_FAULTS})`);
  }
  return faults;
}

/** `--name`: printable, no blanks, at most {@linkcode MAX_NAME_LENGTH} characters. */
function parseName(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(text)) {
    throw new UsageError(
      `Invalid value for --name: "${text}" (1 to ${MAX_NAME_LENGTH} printable ASCII characters, no blanks)`,
    );
  }
  return text;
}

/** `--agent-port` and `--agent-bad`: the command mode's, one process only. */
function parseAgent(values: Values): {
  agentPort: number | undefined;
  agentBad: AgentBadWord;
} {
  const badText = values["agent-bad"];
  const agentBad = AGENT_BAD_WORDS.find((w) => w === badText?.toLowerCase());
  if (badText !== undefined && agentBad === undefined) {
    throw new UsageError(
      `Invalid value for --agent-bad: "${badText}" (down or drain)`,
    );
  }
  const portText = values["agent-port"];
  if (portText === undefined) {
    if (badText !== undefined) {
      throw new UsageError("--agent-bad needs --agent-port");
    }
    return { agentPort: undefined, agentBad: "down" };
  }
  const agentPort = parsePort(portText, "--agent-port");
  if (values.echo || values.buggy) {
    throw new UsageError(
      "--agent-port applies to the command mode (not --echo or --buggy)",
    );
  }
  if (values.takeover !== undefined || values["takeover-from"] !== undefined) {
    throw new UsageError(
      "--agent-port cannot be combined with --takeover or --takeover-from",
    );
  }
  if (values.workers !== undefined && values.workers !== "1") {
    throw new UsageError("--agent-port needs a single process (no -w)");
  }
  return { agentPort, agentBad: agentBad ?? "down" };
}

// Options the takeover machinery has no counterpart for.
const TAKEOVER_UNSUPPORTED = [
  "keepalive",
  "keepalive-idle",
  "keepalive-delay",
  "max-connections",
  "idle-timeout",
  "linger-timeout",
  "nodelay",
  "send-reset",
  "drain-timeout",
] as const;

/** What serves: `--buggy`, `--engine`, `--takeover(-from)`, and which combine. */
function parseModes(values: Values, faults: readonly string[]): {
  buggy: boolean;
  engine: EchoEngine | undefined;
  takeoverPath: string | undefined;
  takeoverFrom: string | undefined;
} {
  const buggy = values.buggy ?? false;
  if (buggy && values.echo) {
    throw new UsageError("--buggy and --echo cannot be combined");
  }
  const takeoverPath = checkPath("--takeover", values.takeover);
  const takeoverFrom = checkPath("--takeover-from", values["takeover-from"]);
  const takeover = takeoverPath !== undefined || takeoverFrom !== undefined;
  if (takeover) {
    // The takeover machinery owns raw sockets: one process, no faults.
    if (values.workers !== undefined && values.workers !== "1") {
      throw new UsageError(
        "--takeover and --takeover-from need a single process (no -w)",
      );
    }
    if (buggy || faults.length > 0) {
      throw new UsageError(
        "--takeover and --takeover-from cannot be combined with --buggy or --fault",
      );
    }
    // What the takeover machinery does not do: refused, not ignored.
    const unsupported = TAKEOVER_UNSUPPORTED.find((name) =>
      values[name] !== undefined
    );
    if (unsupported !== undefined) {
      throw new UsageError(
        `--${unsupported} cannot be combined with --takeover or --takeover-from (the takeover machinery has no idle timeout, RST close, connection total, drain deadline or per-socket options)`,
      );
    }
  }
  const engine = values.engine;
  if (engine !== undefined && engine !== "epoll" && engine !== "deno") {
    throw new UsageError(
      `Invalid value for --engine: "${engine}" (epoll or deno)`,
    );
  }
  if (engine !== undefined) {
    if (!values.echo) throw new UsageError("--engine needs --echo");
    if (takeover) {
      throw new UsageError(
        "--engine cannot be combined with --takeover or --takeover-from",
      );
    }
    if (engine === "epoll" && faults.length > 0) {
      throw new UsageError(
        "--engine epoll cannot inject faults: use --engine deno with --fault",
      );
    }
  }
  return { buggy, engine, takeoverPath, takeoverFrom };
}

/** `--control-from`, `--read-only` and `--framing`: the command mode's own. */
function parseCommandModeOptions(values: Values): {
  controlFrom: Cidr[] | undefined;
  readOnly: boolean;
  framing: ReplyFraming;
} {
  let controlFrom: Cidr[] | undefined;
  if (values["control-from"] !== undefined) {
    try {
      controlFrom = parseCidrList(values["control-from"]);
    } catch (error) {
      if (!(error instanceof CidrError)) throw error;
      throw new UsageError(
        `Invalid value for --control-from: ${error.message}`,
      );
    }
  }
  const readOnly = values["read-only"] ?? false;
  if (readOnly && controlFrom !== undefined) {
    throw new UsageError("Give --read-only or --control-from, not both");
  }
  const framingText = values.framing ?? "tcpkit";
  const framing = parseReplyFraming(framingText);
  if (framing === undefined) {
    throw new UsageError(
      `Invalid value for --framing: "${framingText}" (tcpkit or original)`,
    );
  }
  if (values.buggy || values.echo) {
    if (readOnly || controlFrom !== undefined) {
      throw new UsageError(
        "--read-only and --control-from apply to the command mode (not --echo or --buggy)",
      );
    }
    if (framing !== "tcpkit") {
      throw new UsageError(
        "--framing applies to the command mode (not --echo or --buggy)",
      );
    }
  }
  return { controlFrom, readOnly, framing };
}

/** Internal `--shared-metrics COUNT:PATH`: a worker's metrics region. */
function parseSharedMetrics(
  text: string | undefined,
): { count: number; path: string } | undefined {
  if (text === undefined) return undefined;
  const colon = text.indexOf(":");
  if (colon < 0) {
    throw new UsageError(`Invalid value for --shared-metrics: "${text}"`);
  }
  const count = parseNumberOption("--shared-metrics", text.slice(0, colon), {
    min: 1,
    max: 256,
  });
  const path = checkPath("--shared-metrics", text.slice(colon + 1))!;
  return { count, path };
}

/**
 * `--metrics HOST:PORT`. Not with a takeover: the takeover machinery
 * serves without the engine the metrics read.
 */
function parseMetrics(values: Values): MetricsAddress | undefined {
  if (values.metrics === undefined) return undefined;
  const address = parseMetricsAddress(values.metrics);
  if (values.takeover !== undefined || values["takeover-from"] !== undefined) {
    throw new UsageError(
      "--metrics cannot be combined with --takeover or --takeover-from",
    );
  }
  return address;
}

/** `--log-format`, `--initial-state` and `--service`. */
function parseGeneral(values: Values): {
  logFormat: LogFormat;
  initialState: Health;
  service: string;
} {
  const logFormat = parseLogFormat(values["log-format"]);
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
  return { logFormat, initialState, service };
}

/** Where and how to listen: `-p`, `-a`, `-w`, `--connection-backlog`. */
function parseListen(values: Values, buggy: boolean): {
  port: number | undefined;
  address: string;
  workers: number;
  backlog: number;
} {
  return {
    port: values.port !== undefined
      ? parsePort(values.port)
      : buggy && values.service === undefined
      ? BUGGY_PORT
      : undefined,
    address: parseHost(values.address ?? "0.0.0.0"),
    workers: parseNumberOption("--workers", values.workers ?? "1", {
      max: 256,
    }),
    backlog: parseNumberOption(
      "--connection-backlog",
      values["connection-backlog"] ?? "511",
      {
        min: 1,
        max: 65535,
      },
    ),
  };
}

/** The limits: connections, line length, timeouts, startloops, handover. */
function parseLimits(values: Values): {
  maxConns: number | undefined;
  maxConcurrentConns: number;
  maxTotalConns: number;
  maxLine: number;
  idleTimeoutSecs: number | undefined;
  lingerTimeoutSecs: number | undefined;
  drainTimeoutSecs: number;
  maxLoops: number;
  handoverTimeoutMs: number;
} {
  return {
    maxConns: optional("--max-conns", values["max-conns"], { max: 1 << 20 }),
    maxConcurrentConns: parseNumberOption(
      "--max-concurrent-connections",
      values["max-concurrent-connections"] ?? "0",
      { max: 1 << 20 },
    ),
    maxTotalConns: parseNumberOption(
      "--max-connections",
      values["max-connections"] ?? "0",
    ),
    maxLine: parseNumberOption("--max-line", values["max-line"] ?? "4096", {
      min: 16,
      max: 16 << 20,
    }),
    idleTimeoutSecs: optional("--idle-timeout", values["idle-timeout"], {
      fractional: true,
      max: 86400 * 365,
    }),
    lingerTimeoutSecs: optional("--linger-timeout", values["linger-timeout"], {
      min: 1,
      max: 32767,
    }),
    drainTimeoutSecs: parseNumberOption(
      "--drain-timeout",
      values["drain-timeout"] ?? "10",
      {
        fractional: true,
        max: 86400,
      },
    ),
    maxLoops: parseNumberOption("--max-loops", values["max-loops"] ?? "8", {
      max: 1024,
    }),
    handoverTimeoutMs: parseNumberOption(
      "--handover-timeout",
      values["handover-timeout"] ?? "5000",
      { min: 1, max: 3_600_000 },
    ),
  };
}

/** The flags a master passes to its workers: `--worker`, `--shared-state`, `--shared-metrics`, `--listener-from`. */
function parseWorkerFlags(values: Values): {
  workerId: number | undefined;
  sharedState: string | undefined;
  sharedMetrics: { count: number; path: string } | undefined;
  listenerFrom: string | undefined;
} {
  const workerId = optional("--worker", values.worker, { min: 1, max: 256 });
  const listenerFrom = checkPath("--listener-from", values["listener-from"]);
  if (listenerFrom !== undefined && workerId === undefined) {
    throw new UsageError(
      "--listener-from is for a worker (--worker N): its master sets it",
    );
  }
  return {
    workerId,
    sharedState: checkPath("--shared-state", values["shared-state"]),
    sharedMetrics: parseSharedMetrics(values["shared-metrics"]),
    listenerFrom,
  };
}

/**
 * Parses tcpservd's arguments. The original's short flags keep their
 * meaning and combine (`-dkr`).
 *
 * @throws {UsageError} for unknown options, bad values or extra arguments.
 */
export function parseTcpservdArgs(args: string[]): TcpservdCli {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument: ${positionals[0]}`);
  }
  const general = parseGeneral(values);
  const keepAliveIdleSecs = parseKeepAliveIdle(values);
  const faults = parseFaults(values);
  const modes = parseModes(values, faults);
  const commandMode = parseCommandModeOptions(values);
  const workerFlags = parseWorkerFlags(values);
  const metrics = parseMetrics(values);
  const agent = parseAgent(values);
  const listen = parseListen(values, modes.buggy);
  const limits = parseLimits(values);
  return {
    help: values.help ?? false,
    version: values.version ?? false,
    debug: values.debug ?? false,
    ...general,
    reuseAddr: values.reuseaddr ?? false,
    keepAlive: (values.keepalive ?? false) || keepAliveIdleSecs !== undefined,
    keepAliveIdleSecs,
    badQuit: values["bad-quit"] ?? false,
    ...listen,
    echo: values.echo ?? false,
    ...modes,
    ...commandMode,
    ...limits,
    noDelay: values.nodelay ?? false,
    sendReset: values["send-reset"] ?? false,
    faults,
    leakBits: parseNumberOption("--leak", values.leak ?? "0", { max: 3 }),
    linger: parseNumberOption("--linger", values.linger ?? "0", {
      min: -1,
      max: 32767,
    }),
    ...workerFlags,
    metrics,
    name: parseName(values.name),
    ...agent,
  };
}

/** The idle timeout in effect, in seconds: as given, else 10 for echo and 300 for commands. */
export function idleTimeoutOf(cli: TcpservdCli): number {
  return cli.idleTimeoutSecs ?? (cli.echo ? 10 : 300);
}

/** The refusing connection limit in effect: as given, else 10000 (0, none, for echo). */
export function maxConnsOf(cli: TcpservdCli): number {
  return cli.maxConns ?? (cli.echo ? 0 : 10000);
}

/**
 * The arguments of worker `workerId`: the master's own options, with the
 * port the master reserved, one process per worker, the shared state, and,
 * under socket activation, the master's socket that hands out the listener.
 */
export function workerArgs(
  cli: TcpservdCli,
  port: number,
  workerId: number,
  sharedState: string,
  sharedMetrics?: { count: number; path: string },
  listenerFrom?: string,
): string[] {
  const args = [
    "-a",
    cli.address,
    "-p",
    String(port),
    "--workers",
    "1",
    "--worker",
    String(workerId),
    "--shared-state",
    sharedState,
    "--initial-state",
    cli.initialState.toLowerCase(),
    "--log-format",
    cli.logFormat,
    "--connection-backlog",
    String(cli.backlog),
    "--max-concurrent-connections",
    String(cli.maxConcurrentConns),
    "--max-connections",
    String(cli.maxTotalConns),
    "--max-line",
    String(cli.maxLine),
    "--drain-timeout",
    String(cli.drainTimeoutSecs),
    "--max-loops",
    String(cli.maxLoops),
    "--leak",
    String(cli.leakBits),
    "--linger",
    String(cli.linger),
    "--framing",
    cli.framing,
  ];
  for (const spec of cli.faults) args.push("--fault", spec);
  if (sharedMetrics !== undefined) {
    args.push(
      "--shared-metrics",
      `${sharedMetrics.count}:${sharedMetrics.path}`,
    );
  }
  if (listenerFrom !== undefined) args.push("--listener-from", listenerFrom);
  if (cli.name !== undefined) args.push("--name", cli.name);
  if (cli.controlFrom !== undefined) {
    args.push("--control-from", cli.controlFrom.map((r) => r.text).join(","));
  }
  if (cli.engine !== undefined) args.push("--engine", cli.engine);
  const flags: [boolean, string][] = [
    [cli.debug, "--debug"],
    [cli.reuseAddr, "--reuseaddr"],
    [cli.keepAlive, "--keepalive"],
    [cli.badQuit, "--bad-quit"],
    [cli.echo, "--echo"],
    [cli.noDelay, "--nodelay"],
    [cli.sendReset, "--send-reset"],
    [cli.buggy, "--buggy"],
    [cli.readOnly, "--read-only"],
  ];
  for (const [on, flag] of flags) if (on) args.push(flag);
  const numbers: [number | undefined, string][] = [
    [cli.keepAliveIdleSecs, "--keepalive-idle"],
    [cli.maxConns, "--max-conns"],
    [cli.idleTimeoutSecs, "--idle-timeout"],
    [cli.lingerTimeoutSecs, "--linger-timeout"],
  ];
  for (const [value, flag] of numbers) {
    if (value !== undefined) args.push(flag, String(value));
  }
  return args;
}
