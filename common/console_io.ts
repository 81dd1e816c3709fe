/**
 * Synchronous writes to stdout and stderr for command-line output, so that
 * nothing is lost when a command exits right after printing.
 */
import { ExitCode } from "./exit_codes.ts";
import type { UsageError } from "./usage_error.ts";

const encoder = new TextEncoder();

function writeFully(
  stream: { writeSync(p: Uint8Array): number },
  text: string,
): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  try {
    while (offset < bytes.length) {
      offset += stream.writeSync(bytes.subarray(offset));
    }
  } catch (error) {
    // A closed pipe (e.g. `| head`) is the reader's choice, not our failure.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/** Writes text to stdout. */
export function printOut(text: string): void {
  writeFully(Deno.stdout, text);
}

/** Writes text to stderr. */
export function printErr(text: string): void {
  writeFully(Deno.stderr, text);
}

/**
 * Reports a usage error the same way for every command: one line naming
 * the command, then the usage text, on stderr; returns exit code 64.
 */
export function reportUsageError(
  command: string,
  error: UsageError,
  usage: string,
): number {
  printErr(`${command}: ${error.message}\n${usage}`);
  return ExitCode.USAGE;
}
