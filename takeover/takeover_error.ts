/**
 * The errors a takeover can end with. All extend {@linkcode TakeoverError},
 * so one `instanceof` catches them; the underlying error is the `cause`.
 *
 * @module
 */

/** Any failed takeover. */
export class TakeoverError extends Error {
  /**
   * Makes an error.
   *
   * @param message What failed, in the Deno style (capital, no final period).
   * @param options The `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TakeoverError";
  }
}

/**
 * The old process refused the takeover (another uid, a protocol version it
 * does not speak), or the control socket's permissions kept us out.
 */
export class TakeoverRefusedError extends TakeoverError {
  /**
   * Makes an error.
   *
   * @param message Why, as the old process or the kernel put it.
   * @param options The `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TakeoverRefusedError";
  }
}

/**
 * We refused what was offered: the offering process runs as another user
 * (neither ours nor root), or an fd it sent is not the kind of socket its
 * description says. Nothing received is kept.
 */
export class TakeoverUntrustedError extends TakeoverRefusedError {
  /**
   * Makes an error.
   *
   * @param message What was refused, and why.
   * @param options The `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TakeoverUntrustedError";
  }
}

/** The other side did not answer within the handover timeout. */
export class TakeoverTimeoutError extends TakeoverError {
  /**
   * Makes an error.
   *
   * @param message What was awaited, and for how long.
   * @param options The `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TakeoverTimeoutError";
  }
}

/** The other side went away (end of file, reset) in the middle of a handover. */
export class TakeoverAbortedError extends TakeoverError {
  /**
   * Makes an error.
   *
   * @param message What happened.
   * @param options The `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TakeoverAbortedError";
  }
}

/** Nothing offers a takeover at the path (no such file, nobody listening). */
export class TakeoverUnavailableError extends TakeoverError {
  /**
   * Makes an error.
   *
   * @param message What was tried.
   * @param options The `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TakeoverUnavailableError";
  }
}

/** The other side broke the protocol: a bad frame, wrong fd counts, sockets that are not the ones described. */
export class TakeoverProtocolError extends TakeoverError {
  /**
   * Makes an error.
   *
   * @param message What was wrong.
   * @param options The `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TakeoverProtocolError";
  }
}
