/**
 * The error for a server that accepted the connection, then reset it.
 */

/**
 * The connection was established, then the server reset it (ECONNRESET):
 * not "cannot connect". The message says at which step.
 */
export class PeerResetError extends Error {
  /**
   * Creates the error; `when` says at which step, e.g. "before the prompt"
   * or `while reading the reply to getstatus; got "GO"`.
   */
  constructor(when: string, options?: ErrorOptions) {
    super(`Connected, then reset by the peer ${when}`, options);
    this.name = "PeerResetError";
  }
}
