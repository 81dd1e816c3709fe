/**
 * HAProxy's agent-check protocol on a port of its own: every connection
 * gets one line (see {@linkcode AgentState.line}), then a close. Whatever
 * the agent sends (`agent-send`) is not read: the reply never depends on it.
 */
import { formatHostPort } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import type { AgentState } from "./agent_state.ts";
import type { HealthState } from "./health_state.ts";

const log = tcpkitLogger("tcpservd");
const encoder = new TextEncoder();

/** Options of {@linkcode AgentResponder}. */
export interface AgentResponderOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** The health the reply follows. */
  state: HealthState;
  /** The agent's settings (drain, weight, maxconn, the BAD word). */
  agent: AgentState;
}

/**
 * The agent-check listener.
 *
 * @example
 * ```ts ignore
 * import { AgentResponder } from "./agent_responder.ts";
 * import { AgentState } from "./agent_state.ts";
 * import { HealthState } from "./health_state.ts";
 * const agent = new AgentResponder({
 *   hostname: "127.0.0.1", port: 0, state: new HealthState(), agent: new AgentState(),
 * });
 * console.log(agent.addr.port); // HAProxy: server … agent-check agent-port PORT
 * ```
 */
export class AgentResponder {
  readonly #listener: Deno.TcpListener;
  readonly #options: AgentResponderOptions;
  /** Resolves once the listener is closed and the accept loop has ended. */
  readonly finished: Promise<void>;

  /** Listens at once. @throws {Deno.errors.AddrInUse} When the port is taken. */
  constructor(options: AgentResponderOptions) {
    this.#options = options;
    this.#listener = Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
    });
    this.finished = this.#acceptLoop();
  }

  /** The address bound. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return; // closed
        // EMFILE and friends: one lost check, not a dead agent.
        log.warn("agent: accept failed: {error}", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      this.#answer(conn);
    }
  }

  /** One line, then close; a few bytes always fit the socket buffer. */
  #answer(conn: Deno.TcpConn): void {
    const line = this.#options.agent.line(this.#options.state);
    const peer = formatHostPort(conn.remoteAddr.hostname, conn.remoteAddr.port);
    conn.write(encoder.encode(line)).then(
      () => log.debug("agent: {peer} told {line}", { peer, line: line.trim() }),
      // The balancer went away first (it may reset): not the server's problem.
      (error) =>
        log.debug("agent: {peer}: {error}", { peer, error: String(error) }),
    ).finally(() => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    });
  }

  /** Stops listening. */
  close(): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    return this.finished;
  }
}
