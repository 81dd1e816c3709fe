/**
 * What every tcpservd serving engine shows its process: the bound address,
 * connection counts, and a graceful stop.
 */

/** A listening server as seen by its process (signals, logs, exit). */
export interface ListeningServer {
  /** The address actually bound (port 0 resolved). */
  readonly addr: Deno.NetAddr;
  /** Connections open now. */
  readonly connectionCount: number;
  /** Connections accepted and served since start. */
  readonly acceptedCount: number;
  /** Connections refused by the connection limit since start. */
  readonly refusedCount: number;
  /** True once the limit of connections served was reached: no more accepting. */
  readonly retiring: boolean;
  /** Resolves once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** Stops accepting, drains the connections; resolves when all are closed. */
  shutdown(): Promise<void>;
}
