/**
 * Logging for tcpkit's daemons: LogTape loggers under the `tcpkit` category
 * and the set-up the commands share (text or JSON lines on stderr).
 *
 * Kept apart from `common/` because loading LogTape costs about 30 ms of
 * start-up, which the probe (`tcpcli`), run every few seconds by cluster
 * monitors, must not pay.
 *
 * @example
 * ```ts
 * import { setupLogging, tcpkitLogger } from "./mod.ts";
 * setupLogging({ format: "json" });
 * tcpkitLogger("example").info("ready on port {port}", { port: 1971 });
 * ```
 *
 * @module
 */
export {
  LOG_FORMATS,
  type LogFormat,
  type LoggingOptions,
  type LogProperties,
  parseLogFormat,
  ROOT_CATEGORY,
  setupLogging,
  type TcpkitLogger,
  tcpkitLogger,
} from "./logging.ts";
