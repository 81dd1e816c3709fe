/**
 * tcpcli as a library: a client for tcpservd's line protocol and the health
 * probe that cluster fault monitors run.
 *
 * @example
 * ```ts ignore
 * import { probe, probeExitCode } from "@tcpkit/tcpkit/client";
 * const result = await probe("127.0.0.1", 1971, { timeoutMs: 2000 });
 * Deno.exit(probeExitCode(result)); // 0 GOOD, 1 BAD, 2 unreachable
 * ```
 *
 * @module
 */
export {
  interactive,
  type InteractiveEnd,
  type InteractiveOptions,
} from "./interactive.ts";
export {
  probe,
  probeExitCode,
  type ProbeOptions,
  type ProbeResult,
  type ProbeStatus,
} from "./probe.ts";
export {
  formatProbe,
  NagiosCode,
  nagiosCode,
  PROBE_FORMATS,
  type ProbeFormat,
} from "./probe_format.ts";
export { PeerResetError } from "./peer_reset_error.ts";
export { ProtocolError } from "./protocol_error.ts";
export {
  showBytes,
  TcpservdClient,
  type TcpservdClientOptions,
  type TcpservdReply,
} from "./tcpservd_client.ts";
