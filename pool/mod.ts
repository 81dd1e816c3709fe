/**
 * iotcpd as a library: a pool of long-lived line-oriented daemons behind
 * TCP listeners. Each request line goes to an idle daemon; the daemon's next
 * output line is the reply; then the connection closes (or, with
 * `keepAlive`, the next line is the next request).
 *
 * **Daemon states.** Each of the N slots is `SPAWNING` (no process: one is
 * spawned at once or after a backoff), `STARTING` (spawned, usable at once,
 * not yet proven: no reply yet and younger than one tick), `AVAILABLE`
 * (idle, proven) or `BUSY` (one request in flight). The counts add up to N.
 *
 * **Failures** are answered with `ERR\n`: no daemon free within the queue
 * timeout; a request line longer than `maxLine`; the daemon died, closed
 * its stdout, or wrote more than `maxLine` bytes without a newline (it is
 * then killed and respawned); the daemon passed the busy timeout (SIGTERM,
 * SIGKILL after a grace, respawn). Dead daemons are respawned at once the
 * first time, then with a backoff doubling from 100 ms to 5 s while they
 * keep dying without replying.
 *
 * **Stray output.** A daemon that writes anything beyond its reply (bytes
 * after the reply line, or output with no request pending) gets no further
 * request: it is killed unread and replaced, like a dead one. Output that
 * arrives only after the next request was written cannot be told from the
 * answer: that request gets it, then the daemon is replaced.
 *
 * **Counters** ({@linkcode Statistics}):
 * - `total`: requests received (complete lines, and over-long lines);
 * - `replied`: answered with the daemon's line;
 * - `timeout`: answered `ERR` for a queue timeout or a busy timeout;
 * - `failed`: answered `ERR` for anything else;
 * - `delayed`: requests that waited in the queue (whatever their end);
 * - `unknown`: connections that closed without one complete line;
 * - the latency histogram counts replied requests only.
 *
 * At every instant `total = replied + timeout + failed + queued + inFlight`,
 * where `inFlight` is the number of BUSY daemons: each update happens in the
 * same synchronous step as the state change it reflects.
 *
 * **Limits.** Daemons run in their own process group, which is signalled as
 * a whole. With `setpriv` (util-linux) they are started through
 * `setpriv --pdeathsig KILL`, so even a SIGKILL of iotcpd kills them; what
 * they start themselves is their business in that case (daemons that exit
 * at end of file on stdin, like `cat` and squidGuard, end anyway).
 *
 * @example
 * ```ts ignore
 * import { Iotcpd } from "@tcpkit/tcpkit/pool";
 *
 * await using iotcpd = await Iotcpd.start({
 *   command: ["squidGuard", "-c", "sg/adblock.conf"],
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   numDaemons: 8,
 * });
 * const { port } = iotcpd.addrs[0]!;
 * using conn = await Deno.connect({ hostname: "127.0.0.1", port });
 * await conn.write(new TextEncoder().encode("http://example.com/ 10.0.0.1/- - GET\n"));
 * console.log(iotcpd.statisticsText()); // the SIGUSR1 block
 * ```
 *
 * @module
 */
export {
  Daemon,
  type DaemonEnd,
  type DaemonOptions,
  DaemonSpawnError,
  describeEnd,
} from "./daemon.ts";
export { splitCommand } from "./daemon_command.ts";
export {
  DAEMON_STATES,
  type DaemonInfo,
  DaemonPool,
  type DaemonPoolOptions,
  type DaemonState,
} from "./daemon_pool.ts";
export {
  DEFAULT_COMMAND,
  DEFAULT_DRAIN_GRACE_MS,
  DEFAULT_PORT,
  ERR_REPLY,
  Iotcpd,
  type IotcpdOptions,
} from "./iotcpd.ts";
export {
  BusyTimeoutError,
  DaemonDiedError,
  FAILURE_REASONS,
  type FailureReason,
  isTimeoutReason,
  PoolClosedError,
  QueueTimeoutError,
  ReplyTooLongError,
  RequestFailedError,
} from "./request_errors.ts";
export { RequestQueue } from "./request_queue.ts";
export {
  formatDaemonTable,
  formatStatistics,
  LATENCY_BUCKETS,
  type PoolCounters,
  Statistics,
  type StatisticsJson,
  type StatisticsSnapshot,
} from "./statistics.ts";
