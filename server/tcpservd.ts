/**
 * tcpservd as a library: a health-flipping test server on one port.
 */
import { VERSION } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { getSocketOption, setSocketOption, socketFdOf } from "../ffi/mod.ts";
import { commandSession } from "./command_session.ts";
import { type Health, HealthState } from "./health_state.ts";
import { TcpServer, type TcpServerOptions } from "./tcp_server.ts";

const log = tcpkitLogger("tcpservd");

/** Options of {@linkcode Tcpservd}. */
export interface TcpservdOptions extends Omit<TcpServerOptions, "configure"> {
  /** The state at start. @default {"GOOD"} */
  initialState?: Health;
  /** `quit` answers `BAD` while the state is BAD. @default {false} */
  badQuit?: boolean;
  /** Longest request line in bytes. @default {4096} */
  maxLine?: number;
  /** Most `startloop`s running at once. @default {8} */
  maxLoops?: number;
  /** Turn on SO_KEEPALIVE on accepted sockets. @default {false} */
  keepAlive?: boolean;
  /** TCP_KEEPIDLE for accepted sockets, in seconds (implies keepAlive). */
  keepAliveIdleSecs?: number;
  /** Check (and log) SO_REUSEADDR on the listener. @default {false} */
  reuseAddr?: boolean;
  /** Name in the reply to `hostname`. @default {Deno.hostname()} */
  serverName?: string;
}

/**
 * A running tcpservd.
 *
 * @example
 * ```ts ignore
 * import { Tcpservd } from "@tcpkit/tcpkit/server";
 * await using server = new Tcpservd({ hostname: "127.0.0.1", port: 0 });
 * server.state.set("BAD"); // every client now reads BAD from getstatus
 * ```
 */
export class Tcpservd {
  /** The server-wide health state. */
  readonly state: HealthState;
  readonly #server: TcpServer;

  /** Listens at once; throws `Deno.errors.AddrInUse` if the port is taken. */
  constructor(options: TcpservdOptions = {}) {
    this.state = new HealthState(options.initialState ?? "GOOD");
    const keepAlive = options.keepAlive ||
      options.keepAliveIdleSecs !== undefined;
    const idle = options.keepAliveIdleSecs;
    this.#server = new TcpServer(
      commandSession({
        state: this.state,
        version: VERSION,
        hostname: options.serverName ?? Deno.hostname(),
        badQuit: options.badQuit ?? false,
        maxLine: options.maxLine ?? 4096,
        maxLoops: options.maxLoops ?? 8,
      }),
      {
        ...options,
        ...(keepAlive
          ? { configure: (conn) => configureKeepAlive(conn, idle) }
          : {}),
      },
    );
    if (options.reuseAddr) {
      // Deno sets SO_REUSEADDR on every listener; read it back to prove it.
      const fd = socketFdOf(this.#server.listener);
      if (getSocketOption(fd, "SO_REUSEADDR") !== 1) {
        setSocketOption(fd, "SO_REUSEADDR", 1);
      }
      log.info("SO_REUSEADDR on listener: {value} (getsockopt)", {
        value: getSocketOption(fd, "SO_REUSEADDR"),
      });
    }
  }

  /** The address bound. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** The listener machinery (counts, limits). */
  get server(): TcpServer {
    return this.#server;
  }

  /** Stops accepting, drains the connections, resolves when all are closed. */
  shutdown(): Promise<void> {
    return this.#server.shutdown();
  }

  /** Same as {@linkcode Tcpservd.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

function configureKeepAlive(
  conn: Deno.TcpConn,
  idleSecs: number | undefined,
): void {
  conn.setKeepAlive(true);
  if (idleSecs === undefined) return;
  // Deno has no API for the keepalive timers: set them on the fd.
  const fd = socketFdOf(conn);
  setSocketOption(fd, "TCP_KEEPIDLE", idleSecs);
  log.debug("SO_KEEPALIVE on, TCP_KEEPIDLE {value} s", {
    value: getSocketOption(fd, "TCP_KEEPIDLE"),
  });
}
