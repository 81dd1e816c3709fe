/**
 * tcpcli's command line: options, defaults and the help text.
 */
import {
  parseCommandLine,
  parseHost,
  parseNumberOption,
  parsePort,
  UsageError,
} from "../common/mod.ts";
import { LocalCommandError, parseLocalCommand } from "./local_commands.ts";
import { PROBE_FORMATS, type ProbeFormat } from "./probe_format.ts";

/** The usage text printed by `--help` and after a usage error. */
export const TCPCLI_USAGE = `USAGE:
  tcpcli [OPTIONS] HOST [PORT]
  tcpcli soak [OPTIONS] HOST PORT   (load test; tcpcli soak --help)

  Probes a tcpservd (tcpkit's, or the original 1.0): connects, sends
  getstatus, exits with the health. Exit codes: 0 GOOD, 1 BAD,
  2 unreachable / refused / reset / timeout / bad reply, 64 bad command
  line. With --format nagios: 0 OK, 2 CRITICAL, 3 UNKNOWN.

OPTIONS:
  -h, --help               Print this help and exit
  -V, --version            Print the version and exit
  -d, --debug              Trace the exchange on stderr
  -s, --service NAME       Port from /etc/services when PORT is not given
                           (default: tcpservd, else 1971)
  -t, --timeout SECS       Hard deadline for the whole probe (default 5)
  -r, --failure-code N     Exit code for every failure instead of 1 and 2
  -c, --command CMD        Send CMD and print the reply (repeatable)
  -i, --interactive        Telnet-like session

  With -c and -i, these words are not sent; they change tcpcli itself (the
  abusive client): passive (shut our write side after the next line), short
  (send one byte per write), shut N (shutdown 0 read, 1 write, 2 both),
  linger N (SO_LINGER {1,N}: 0 makes our close an RST), timeout S (give up
  when a reply takes longer), bye (close and exit), die (exit without close).
      --format FORMAT      text, json or nagios (default text)
  -q, --quiet              Print nothing; the exit code tells

EXAMPLE:
  tcpcli -t 2 node1 1971 || echo "node1 is down"
`;

/** The parsed command line. */
export interface TcpcliCli {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** Trace on stderr. */
  debug: boolean;
  /** Host to reach. */
  hostname: string;
  /** Explicit port, if given. */
  port: number | undefined;
  /** Service name to look up when no port is given. */
  service: string | undefined;
  /** Deadline in ms, if given. */
  timeoutMs: number | undefined;
  /** Exit code for failures, if given. */
  failureCode: number | undefined;
  /** Commands to send instead of probing. */
  commands: string[];
  /** Interactive session. */
  interactive: boolean;
  /** Output format of the probe. */
  format: ProbeFormat;
  /** Print nothing. */
  quiet: boolean;
}

/**
 * Parses tcpcli's arguments.
 *
 * @throws {UsageError} for unknown options, bad values, a missing host.
 */
export function parseTcpcliArgs(args: string[]): TcpcliCli {
  const { values, positionals } = parseCommandLine(args, {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
    debug: { type: "boolean", short: "d" },
    service: { type: "string", short: "s" },
    timeout: { type: "string", short: "t" },
    "failure-code": { type: "string", short: "r" },
    command: { type: "string", short: "c", multiple: true },
    interactive: { type: "boolean", short: "i" },
    format: { type: "string" },
    quiet: { type: "boolean", short: "q" },
  });
  const help = values.help ?? false;
  const version = values.version ?? false;
  if (!help && !version && positionals.length === 0) {
    throw new UsageError("Missing HOST");
  }
  if (positionals.length > 2) {
    throw new UsageError(`Unexpected argument: ${positionals[2]}`);
  }
  const format = values.format ?? "text";
  if (!(PROBE_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `Invalid value for --format: "${format}" (text, json or nagios)`,
    );
  }
  const commands = values.command ?? [];
  for (const command of commands) {
    try {
      parseLocalCommand(command);
    } catch (error) {
      if (error instanceof LocalCommandError) {
        throw new UsageError(
          `Invalid --command "${command}": ${error.message}`,
        );
      }
      throw error;
    }
    if (/[\r\n\0]/.test(command)) {
      throw new UsageError(
        "Invalid value for --command: no newline or NUL allowed",
      );
    }
  }
  if (values.interactive && commands.length > 0) {
    throw new UsageError("--interactive and --command cannot be combined");
  }
  const service = values.service;
  if (
    service !== undefined && (service.trim() === "" || service.includes("\0"))
  ) {
    throw new UsageError(`Invalid service name: "${service}"`);
  }
  return {
    help,
    version,
    debug: values.debug ?? false,
    hostname: positionals[0] === undefined ? "" : parseHost(positionals[0]),
    port: positionals[1] === undefined ? undefined : parsePort(positionals[1]),
    service,
    timeoutMs: values.timeout === undefined ? undefined : 1000 *
      parseNumberOption("--timeout", values.timeout, {
        fractional: true,
        min: 0.001,
        max: 86400,
      }),
    failureCode: values["failure-code"] === undefined
      ? undefined
      : parseNumberOption("--failure-code", values["failure-code"], {
        min: 0,
        max: 255,
      }),
    commands,
    interactive: values.interactive ?? false,
    format: format as ProbeFormat,
    quiet: values.quiet ?? false,
  };
}
