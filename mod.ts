/**
 * tcpkit: a toolkit for testing TCP services, HA clusters and networks.
 *
 * - {@linkcode Tcpservd}: a test server whose health (GOOD/BAD) is flipped
 *   by its clients; {@linkcode TcpServer} is the listener machinery under it.
 * - {@linkcode probe}: the health probe behind `tcpcli` (the exit code is
 *   the health); {@linkcode TcpservdClient} speaks the line protocol.
 * - {@linkcode Iotcpd}: the stdio-to-TCP redirector keeping a pool of
 *   long-lived line-oriented daemons ({@linkcode DaemonPool}).
 * - {@linkcode TakeoverServer}: a server whose listener and live connections
 *   move to a new process with nothing lost.
 *
 * The commands are `tcpservd` (`./tcpservd`), `tcpcli` (`./tcpcli`),
 * `iotcpd` (`./iotcpd`) and `takeover` (`./takeover-cli`).
 * The libc layer is published apart, as `./ffi`, because it needs
 * `--allow-ffi`.
 *
 * @example Probe a server from a script
 * ```ts ignore
 * import { probe, Tcpservd } from "@tcpkit/tcpkit";
 *
 * await using server = new Tcpservd({ hostname: "127.0.0.1", port: 0 });
 * server.state.set("BAD");
 * const result = await probe("127.0.0.1", server.addr.port);
 * console.log(result.status); // "BAD"
 * ```
 *
 * @module
 */
export {
  formatHostPort,
  LineReader,
  LineTooLongError,
  UsageError,
  VERSION,
} from "./common/mod.ts";
export { ServerConn, TcpServer, type TcpServerOptions } from "./net/mod.ts";
export {
  type Health,
  HealthState,
  Tcpservd,
  type TcpservdOptions,
} from "./server/mod.ts";
export {
  probe,
  probeExitCode,
  type ProbeOptions,
  type ProbeResult,
  type ProbeStatus,
  ProtocolError,
  TcpservdClient,
} from "./client/mod.ts";
export {
  DaemonPool,
  type DaemonPoolOptions,
  Iotcpd,
  type IotcpdOptions,
} from "./pool/mod.ts";
export { SeqnumClient, SeqnumService, TakeoverServer } from "./takeover/mod.ts";
