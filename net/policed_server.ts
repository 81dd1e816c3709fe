/**
 * The counts every serving engine shows, read from its
 * {@linkcode ListenerPolicy}: one implementation for all engines.
 */
import type { ListenerPolicy, TrackedConn } from "./listener_policy.ts";
import type { ListeningServer } from "./listening_server.ts";

/** A {@linkcode ListeningServer} whose counts come from its policy. */
export abstract class PolicedServer implements ListeningServer {
  /** The address actually bound (port 0 resolved). */
  abstract readonly addr: Deno.NetAddr;
  /** Resolves once the server has stopped and every connection is closed. */
  abstract readonly finished: Promise<void>;
  /** Stops accepting, drains the connections; resolves when all are closed. */
  abstract shutdown(): Promise<void>;
  /** The policy the engine reports to. */
  protected abstract get policy(): ListenerPolicy<TrackedConn>;

  /** Connections open now. */
  get connectionCount(): number {
    return this.policy.conns.size;
  }

  /** Connections accepted and served since start. */
  get acceptedCount(): number {
    return this.policy.acceptedCount;
  }

  /** Connections refused by the connection limit since start. */
  get refusedCount(): number {
    return this.policy.refusedCount;
  }

  /** True once `maxTotalConns` was reached: no more accepting. */
  get retiring(): boolean {
    return this.policy.retiring;
  }

  /** Same as {@linkcode PolicedServer.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
