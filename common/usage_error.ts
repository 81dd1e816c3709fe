/**
 * Command-line errors: one class, so every command can turn them into the
 * same one-line message, the usage text and exit code 64.
 */

/** A bad command line: unknown option, missing or malformed value. */
export class UsageError extends Error {
  /** Creates a usage error with a one-line message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** Bounds for {@linkcode parseNumberOption}. */
export interface NumberOptionBounds {
  /** Smallest value accepted. @default {0} */
  min?: number;
  /** Largest value accepted. @default {Number.MAX_SAFE_INTEGER} */
  max?: number;
  /** Accept a fractional value such as `0.5`. @default {false} */
  fractional?: boolean;
}

/**
 * Parses the value of a numeric option strictly: the whole text must be a
 * number inside the bounds, else a {@linkcode UsageError} names the option.
 *
 * @example
 * ```ts
 * import { parseNumberOption } from "./usage_error.ts";
 * parseNumberOption("--port", "8080", { max: 65535 }); // 8080
 * ```
 */
export function parseNumberOption(
  name: string,
  text: string | undefined,
  bounds: NumberOptionBounds = {},
): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER, fractional = false } = bounds;
  const pattern = fractional ? /^[+-]?(\d+(\.\d*)?|\.\d+)$/ : /^[+-]?\d+$/;
  const value = text === undefined ? NaN : Number(text);
  if (text === undefined || !pattern.test(text) || !isFinite(value)) {
    const kind = fractional ? "a number" : "an integer";
    throw new UsageError(
      `Invalid value for ${name}: expected ${kind}, got "${text ?? ""}"`,
    );
  }
  if (value < min || value > max) {
    throw new UsageError(
      `Invalid value for ${name}: ${text} is out of range (${min} to ${max})`,
    );
  }
  return value;
}
