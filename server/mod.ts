/**
 * tcpservd as a library: the health-flipping test server, its line
 * protocol, the echo service (on `Deno.listen`, or on raw sockets and an
 * inline epoll reactor), the listener machinery (limits, idle sweep, drain)
 * that every mode builds on, and the master + workers supervisor.
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
export {
  BUGGY_PORT,
  buggySession,
  type BuggySessionOptions,
} from "./buggy_session.ts";
export {
  type ControlCommand,
  ControlPolicy,
  type ControlPolicyOptions,
} from "./control_policy.ts";
export { ConnFaults, FaultEndedError } from "./conn_faults.ts";
export { burnCpu } from "./cpu_loop.ts";
export { echoSession, type EchoSessionOptions } from "./echo_session.ts";
export {
  EpollEchoServer,
  type EpollEchoServerOptions,
} from "./epoll_echo_server.ts";
export { withFaults } from "./fault_session.ts";
export { type ActiveFault, FaultSet } from "./fault_set.ts";
export {
  FAULT_NAMES,
  FAULT_SETTINGS,
  type FaultName,
  type FaultSetting,
  type FaultSpec,
  FaultSpecError,
  formatFaultSpec,
  parseFaultSpec,
} from "./fault_spec.ts";
export {
  type Health,
  type HealthListener,
  HealthState,
  parseHealth,
} from "./health_state.ts";
export { helpText } from "./help_text.ts";
export {
  applyListenerOptions,
  applySocketOptions,
  type ListenerSocketOptions,
} from "../net/listener_options.ts";
export type { ListeningServer } from "../net/listening_server.ts";
export type { ReplyFraming } from "./reply_framing.ts";
export { SeededRandom } from "./seeded_random.ts";
export { type LingeringCloseOptions, ServerConn } from "../net/server_conn.ts";
export {
  type ConnectionHandler,
  TcpServer,
  type TcpServerOptions,
} from "../net/tcp_server.ts";
export {
  healthSnapshot,
  restoreHealth,
  takeoverCommandHandler,
  type TakeoverCommandOptions,
  takeoverEchoHandler,
} from "./takeover_session.ts";
export {
  type EchoEngine,
  Tcpservd,
  type TcpservdMode,
  type TcpservdOptions,
} from "./tcpservd.ts";
export {
  DEFAULT_SERVICE,
  FALLBACK_PORT,
  idleTimeoutOf,
  maxConnsOf,
  parseTcpservdArgs,
  TCPSERVD_USAGE,
  type TcpservdCli,
  workerArgs,
} from "./tcpservd_cli.ts";
export { announceReady, watchMaster } from "./worker_link.ts";
export {
  READY_LINE,
  type SupervisorOutcome,
  WorkerSupervisor,
  type WorkerSupervisorOptions,
} from "./worker_supervisor.ts";
