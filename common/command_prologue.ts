/**
 * The start every command shares: parse the arguments, and answer a usage
 * error, `--help` or `--version` the same way everywhere.
 */
import { printOut, reportUsageError } from "./console_io.ts";
import { ExitCode } from "./exit_codes.ts";
import { UsageError } from "./usage_error.ts";
import { VERSION } from "./version.ts";

/** What {@linkcode commandPrologue} needs to know about a command. */
export interface CommandDescription<T> {
  /** The command's name, e.g. `tcpservd`. */
  name: string;
  /** The text printed by `--help` and after a usage error. */
  usage: string;
  /** Parses the arguments; throws {@linkcode UsageError} for a bad command line. */
  parse(args: string[]): T;
}

/**
 * Parses `args`. Returns the parsed command line when the command should
 * run, or the exit code when it is already done: 0 after `--help` (usage on
 * stdout) or `--version` (`NAME VERSION` on stdout), 64 after a usage error
 * (one line and the usage on stderr).
 *
 * @example
 * ```ts ignore
 * const cli = commandPrologue({ name: "tcpcli", usage, parse }, args);
 * if (typeof cli === "number") return cli;
 * ```
 */
export function commandPrologue<T extends { help: boolean; version: boolean }>(
  command: CommandDescription<T>,
  args: string[],
): T | number {
  let cli: T;
  try {
    cli = command.parse(args);
  } catch (error) {
    if (error instanceof UsageError) {
      return reportUsageError(command.name, error, command.usage);
    }
    throw error;
  }
  if (cli.help) {
    printOut(command.usage);
    return ExitCode.OK;
  }
  if (cli.version) {
    printOut(`${command.name} ${VERSION}\n`);
    return ExitCode.OK;
  }
  return cli;
}
