/**
 * A budget for log lines that remote clients can cause (state changes,
 * refusals, idle closes): a client must not be able to flood the log, nor
 * slow the server down by making it write one. Each key may log a few
 * lines per second; the rest are counted and the count rides on the next
 * line that gets through.
 */

/** Options of {@linkcode LogBudget}. */
export interface LogBudgetOptions {
  /** Lines per key per window. @default {10} */
  lines?: number;
  /** The window, in ms. @default {1000} */
  windowMs?: number;
}

/**
 * Per-key line budgets.
 *
 * @example
 * ```ts
 * import { LogBudget } from "./log_budget.ts";
 * const budget = new LogBudget({ lines: 1 });
 * budget.take("state"); // 0: log it, nothing was suppressed
 * budget.take("state"); // undefined: suppress it
 * ```
 */
export class LogBudget {
  readonly #lines: number;
  readonly #windowMs: number;
  readonly #keys = new Map<
    string,
    { start: number; used: number; suppressed: number }
  >();

  /** Creates the budget. */
  constructor(options: LogBudgetOptions = {}) {
    this.#lines = options.lines ?? 10;
    this.#windowMs = options.windowMs ?? 1000;
  }

  /**
   * Takes one line for `key` (a fixed string, not a peer: keys are kept).
   * Returns how many lines of this key were suppressed since the last one
   * logged (log this one, and say so when it is not 0), or `undefined`
   * when the budget is spent (suppress this one).
   */
  take(key: string, now: number = performance.now()): number | undefined {
    let entry = this.#keys.get(key);
    if (entry === undefined) {
      entry = { start: now, used: 0, suppressed: 0 };
      this.#keys.set(key, entry);
    }
    if (now - entry.start >= this.#windowMs) {
      entry.start = now;
      entry.used = 0;
    }
    if (entry.used >= this.#lines) {
      entry.suppressed++;
      return undefined;
    }
    entry.used++;
    const suppressed = entry.suppressed;
    entry.suppressed = 0;
    return suppressed;
  }

  /**
   * Like {@linkcode LogBudget.take}, as the tail of a log message: `""`,
   * or `" (N more suppressed)"`, or `undefined` to suppress this line.
   */
  tail(key: string): string | undefined {
    const suppressed = this.take(key);
    if (suppressed === undefined) return undefined;
    return suppressed === 0 ? "" : ` (${suppressed} more suppressed)`;
  }
}
