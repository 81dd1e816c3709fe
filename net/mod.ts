/**
 * The general listener machinery under tcpkit's servers, with no tcpservd
 * in it: a `Deno.listen` server that runs a handler per connection
 * ({@linkcode TcpServer}), the connection it hands over
 * ({@linkcode ServerConn}), and the policies every serving engine shares
 * ({@linkcode ListenerPolicy}: refuse or pause at the connection limit,
 * retire after a total, back off after a failed accept, the idle sweep and
 * the drain deadline). Faults and other bends reach a connection only
 * through its {@linkcode WriteHook} and the server's {@linkcode AcceptGate}.
 * A listening socket handed over by fd (systemd's socket activation) is
 * served through {@linkcode FdListener} and {@linkcode FdConn}, since
 * `Deno.listen` cannot adopt one; {@linkcode takeActivatedSockets} takes
 * such sockets from systemd, and {@linkcode ServiceNotifier} tells systemd
 * how the service is doing (`sd_notify`, the watchdog).
 *
 * @example
 * ```ts ignore
 * import { TcpServer } from "@tcpkit/tcpkit/net";
 * await using server = new TcpServer(async (conn) => {
 *   await conn.writeAll("hello\n");
 * }, { hostname: "127.0.0.1", port: 0, maxConns: 100, idleTimeoutMs: 30_000 });
 * console.log(`listening on port ${server.addr.port}`);
 * ```
 *
 * @module
 */
export { type AcceptErrorAction, acceptErrorAction } from "./accept_error.ts";
export { FdConn, FdListener, type StreamConn } from "./fd_conn.ts";
export {
  applyListenerOptions,
  applySocketOptions,
  type ListenerSocketOptions,
} from "./listener_options.ts";
export {
  ACCEPT_RETRY_MS,
  IDLE_MESSAGE,
  type ListenerLimits,
  ListenerPolicy,
  type PolicyActions,
  type TrackedConn,
} from "./listener_policy.ts";
export type { ListeningServer } from "./listening_server.ts";
export { PolicedServer } from "./policed_server.ts";
export {
  NOTIFY_ENV,
  type NotifyConfig,
  parseNotifyEnv,
  ServiceNotifier,
  STATUS_INTERVAL_MS,
} from "./service_notifier.ts";
export {
  type ActivatedSocket,
  LISTEN_ENV,
  LISTEN_FDS_START,
  type ListenFds,
  MAX_LISTEN_FDS,
  parseListenFds,
  SocketActivationError,
  socketsPassed,
  takeActivatedSockets,
  takeEnv,
} from "./socket_activation.ts";
export {
  type LingeringCloseOptions,
  ServerConn,
  type ServerConnOptions,
  type WriteHook,
} from "./server_conn.ts";
export {
  type AcceptGate,
  type ConnectionHandler,
  TcpServer,
  type TcpServerOptions,
} from "./tcp_server.ts";
