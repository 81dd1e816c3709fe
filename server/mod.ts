/**
 * tcpservd as a library: the health-flipping test server, its line
 * protocol, and the listener machinery (limits, idle sweep, drain) that
 * other server modes build on.
 *
 * @example
 * ```ts ignore
 * import { Tcpservd } from "@tcpkit/tcpkit/server";
 * await using server = new Tcpservd({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on port ${server.addr.port}`);
 * server.state.set("BAD");
 * ```
 *
 * @module
 */
export {
  type Command,
  DEFAULT_LOOP_SECONDS,
  MAX_LOOP_SECONDS,
  parseCommand,
} from "./commands.ts";
export {
  commandSession,
  type CommandSessionOptions,
  PROMPT,
} from "./command_session.ts";
export { burnCpu } from "./cpu_loop.ts";
export {
  type Health,
  type HealthListener,
  HealthState,
  parseHealth,
} from "./health_state.ts";
export { helpText } from "./help_text.ts";
export {
  IDLE_MESSAGE,
  type LingeringCloseOptions,
  ServerConn,
} from "./server_conn.ts";
export {
  type ConnectionHandler,
  TcpServer,
  type TcpServerOptions,
} from "./tcp_server.ts";
export { Tcpservd, type TcpservdOptions } from "./tcpservd.ts";
export {
  DEFAULT_SERVICE,
  FALLBACK_PORT,
  parseTcpservdArgs,
  TCPSERVD_USAGE,
  type TcpservdCli,
} from "./tcpservd_cli.ts";
