/**
 * Why a request got `ERR` instead of a daemon's reply: one named error
 * class per cause, all under {@linkcode RequestFailedError}, so a caller
 * catches one class and still knows the cause.
 */

/**
 * The causes of a failed request. `queue-timeout` and `busy-timeout` are
 * counted as `queries timeout`; the others as `queries failed`.
 */
export type FailureReason =
  | "queue-timeout"
  | "busy-timeout"
  | "line-too-long"
  | "daemon-died"
  | "reply-too-long"
  | "closed";

/** Every failure reason, in the order reports list them. */
export const FAILURE_REASONS: readonly FailureReason[] = [
  "queue-timeout",
  "busy-timeout",
  "line-too-long",
  "daemon-died",
  "reply-too-long",
  "closed",
];

/** Whether a failure counts as `queries timeout` (else `queries failed`). */
export function isTimeoutReason(reason: FailureReason): boolean {
  return reason === "queue-timeout" || reason === "busy-timeout";
}

/** A request that ends without a daemon's reply; the client gets `ERR`. */
export class RequestFailedError extends Error {
  /** Why the request failed. */
  readonly reason: FailureReason;
  /** Creates the error for one cause. */
  constructor(reason: FailureReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestFailedError";
    this.reason = reason;
  }
}

/** No daemon became free within the queue timeout. */
export class QueueTimeoutError extends RequestFailedError {
  /** Creates the error; `timeoutMs` is the queue timeout that passed. */
  constructor(timeoutMs: number) {
    super("queue-timeout", `No daemon became free within ${timeoutMs} ms`);
    this.name = "QueueTimeoutError";
  }
}

/** The daemon serving the request passed the busy timeout and was killed. */
export class BusyTimeoutError extends RequestFailedError {
  /** Creates the error; `busyMs` is how long the daemon had been busy. */
  constructor(pid: number, busyMs: number) {
    super(
      "busy-timeout",
      `Daemon pid ${pid} was busy for ${Math.round(busyMs)} ms: killed`,
    );
    this.name = "BusyTimeoutError";
  }
}

/** The daemon serving the request died, or closed its stdout, before replying. */
export class DaemonDiedError extends RequestFailedError {
  /** Creates the error; `how` says what was seen, e.g. `exited (code 3)`. */
  constructor(pid: number, how: string) {
    super("daemon-died", `Daemon pid ${pid} ended before replying: ${how}`);
    this.name = "DaemonDiedError";
  }
}

/** The daemon wrote more than the line limit without a newline. */
export class ReplyTooLongError extends RequestFailedError {
  /** Creates the error for the limit in bytes. */
  constructor(pid: number, maxLine: number) {
    super(
      "reply-too-long",
      `Daemon pid ${pid} wrote more than ${maxLine} bytes without a newline`,
    );
    this.name = "ReplyTooLongError";
  }
}

/** The pool was closed while the request waited or ran. */
export class PoolClosedError extends RequestFailedError {
  /** Creates the error. */
  constructor() {
    super("closed", "The daemon pool is closed");
    this.name = "PoolClosedError";
  }
}
