/**
 * Pieces every tcpkit command shares: exit codes, usage errors, host and
 * port parsing, line framing with limits, console output and the version.
 *
 * Nothing here has a dependency, so the probe (`tcpcli`) starts fast;
 * logging set-up lives apart, in `logging/`.
 *
 * @example
 * ```ts
 * import { formatHostPort, LineReader } from "./mod.ts";
 * formatHostPort("::1", 1971); // "[::1]:1971"
 * ```
 *
 * @module
 */
export {
  formatAddr,
  formatHostPort,
  type HostPort,
  parseHost,
  parsePort,
} from "./address.ts";
export type { Cidr } from "./cidr.ts";
export {
  type CommandDescription,
  commandPrologue,
} from "./command_prologue.ts";
export {
  type OptionSpec,
  type OptionValue,
  parseCommandLine,
  type ParsedCommandLine,
} from "./command_line.ts";
export {
  FORCE_AFTER_MS,
  onSignal,
  onStopSignals,
  type StopSignalOptions,
} from "./signals.ts";
export { printErr, printOut, reportUsageError } from "./console_io.ts";
export { errorMessage } from "./error_message.ts";
export { ExitCode, type ExitCodeValue } from "./exit_codes.ts";
export { LogBudget, type LogBudgetOptions } from "./log_budget.ts";
export {
  type ByteReader,
  type Line,
  LineReader,
  type LineReaderOptions,
  LineTooLongError,
} from "./line_reader.ts";
export {
  type NumberOptionBounds,
  parseNumberOption,
  UsageError,
} from "./usage_error.ts";
export { VERSION } from "./version.ts";
export { type ByteWriter, writeAll } from "./write_all.ts";
