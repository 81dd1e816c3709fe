/**
 * The text of a thrown value for a log line or a message: an Error's
 * message, anything else as a string.
 */

/**
 * The text of `error`: its message when it is an Error, else `String(error)`.
 *
 * @example
 * ```ts
 * import { errorMessage } from "./error_message.ts";
 * errorMessage(new RangeError("too big")); // "too big"
 * errorMessage("plain"); // "plain"
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
