/**
 * The error for a server that answers, but not in tcpservd's protocol.
 */

/** The server's bytes are not a tcpservd reply. */
export class ProtocolError extends Error {
  /** Creates the error; `message` says what was expected and what came. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}
