/**
 * tcpservd as a library: the health-flipping test server, its line
 * protocol, the echo service (on `Deno.listen`, or on raw sockets and an
 * inline epoll reactor), fault injection, and the master + workers
 * supervisor. The listener machinery under them is `@tcpkit/tcpkit/net`;
 * the command line's own parts (flags, usage, worker hand-shake) are not
 * exported.
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
  MAX_AGENT_MAXCONN,
  MAX_LOOP_SECONDS,
  MAX_WEIGHT_PERCENT,
  parseCommand,
} from "./commands.ts";
export {
  AGENT_BAD_WORDS,
  type AgentBadWord,
  AgentState,
} from "./agent_state.ts";
export {
  AgentResponder,
  type AgentResponderOptions,
} from "./agent_responder.ts";
export {
  type CommandObserver,
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
export { echoSession, type EchoSessionOptions } from "./echo_session.ts";
export {
  EpollEchoServer,
  type EpollEchoServerOptions,
} from "./epoll_echo_server.ts";
export { ConnFaults, FaultEndedError } from "./conn_faults.ts";
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
export type { ReplyFraming } from "./reply_framing.ts";
export { SeededRandom } from "./seeded_random.ts";
export {
  type EchoEngine,
  Tcpservd,
  type TcpservdMode,
  type TcpservdOptions,
} from "./tcpservd.ts";
export {
  type SupervisorOutcome,
  WorkerSupervisor,
  type WorkerSupervisorOptions,
} from "./worker_supervisor.ts";
