/**
 * Logging set-up for the commands: LogTape records written synchronously to
 * stderr, as text or as JSON lines.
 *
 * Library code only asks for loggers; only a command's `main` configures
 * them, so an embedding program keeps control of its own logging.
 */
import {
  configureSync,
  getLogger,
  getTextFormatter,
  type LogRecord,
  type TextFormatter,
} from "@logtape/logtape";
import { UsageError } from "../common/usage_error.ts";

/** How log lines are written. */
export type LogFormat = "text" | "json";

/** The formats accepted by `--log-format`. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/**
 * Reads a `--log-format` value; `undefined` (not given) is `text`.
 *
 * @throws {UsageError} For anything but `text` or `json`.
 */
export function parseLogFormat(value: string | undefined): LogFormat {
  const format = value ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `Invalid value for --log-format: "${format}" (text or json)`,
    );
  }
  return format as LogFormat;
}

/** Options of {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** Log debug records too. @default {false} */
  debug?: boolean;
  /** Text lines or JSON lines. @default {"text"} */
  format?: LogFormat;
  /** Where the lines go. @default {Deno.stderr} */
  output?: { writeSync(p: Uint8Array): number };
  /** Added to every record's category, e.g. `worker-2`, to tell processes apart. */
  label?: string;
}

// BigInts (e.g. socket cookies) have no JSON form of their own.
function jsonValue(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * One JSON object per record: `@timestamp`, `level`, `message` rendered
 * with bare values (strings unquoted, as in the text format), `logger`, and
 * the properties as fields.
 */
function jsonLine(record: LogRecord): string {
  let message = "";
  record.message.forEach((part, i) => {
    message +=
      i % 2 === 0 || typeof part === "string" || typeof part === "bigint"
        ? String(part)
        : JSON.stringify(part, jsonValue) ?? String(part);
  });
  return JSON.stringify({
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: record.level.toUpperCase(),
    message,
    logger: record.category.join("."),
    ...record.properties,
  }, jsonValue) + "\n";
}

/** The root category of every tcpkit logger. */
export const ROOT_CATEGORY = "tcpkit";

/** A log record's properties, or a function computing them if the level is enabled. */
export type LogProperties =
  | Record<string, unknown>
  | (() => Record<string, unknown>);

/**
 * A tcpkit logger: LogTape's `Logger`, through the methods tcpkit uses. The
 * message is a template whose `{name}` placeholders take the properties.
 */
export interface TcpkitLogger {
  /** Logs at debug level. */
  debug(message: string, properties?: LogProperties): void;
  /** Logs at info level. */
  info(message: string, properties?: LogProperties): void;
  /** Logs at warning level. */
  warn(message: string, properties?: LogProperties): void;
  /** Logs at error level. */
  error(message: string, properties?: LogProperties): void;
}

/**
 * Returns the logger of one part of tcpkit, e.g. `tcpkitLogger("tcpservd")`.
 */
export function tcpkitLogger(...names: string[]): TcpkitLogger {
  return getLogger([ROOT_CATEGORY, ...names]);
}

/**
 * Configures LogTape for a command. Writes are synchronous so that a line
 * such as `listening on …` is out before anything else happens, and nothing
 * is lost when the process exits.
 */
export function setupLogging(options: LoggingOptions = {}): void {
  const output = options.output ?? Deno.stderr;
  const format: TextFormatter = options.format === "json"
    ? jsonLine
    : getTextFormatter({ timestamp: "date-time-tz", value: "bare" });
  const encoder = new TextEncoder();
  const label = options.label;
  configureSync({
    reset: true,
    sinks: {
      stderr(record: LogRecord): void {
        const labelled = label === undefined
          ? record
          : { ...record, category: [...record.category, label] };
        const bytes = encoder.encode(format(labelled));
        let written = 0;
        try {
          while (written < bytes.length) {
            written += output.writeSync(bytes.subarray(written));
          }
        } catch {
          // A closed stderr must never take a server down.
        }
      },
    },
    loggers: [
      {
        category: ["logtape", "meta"],
        sinks: ["stderr"],
        lowestLevel: "warning",
      },
      {
        category: [ROOT_CATEGORY],
        sinks: ["stderr"],
        lowestLevel: options.debug ? "debug" : "info",
      },
    ],
  });
}
