/**
 * systemd's notification protocol (`sd_notify`) and watchdog: `READY=1`
 * once listening, `STATUS=…` lines, `WATCHDOG=1` every half
 * `WATCHDOG_USEC`, `STOPPING=1` on shutdown — each one datagram to
 * `NOTIFY_SOCKET` (a path, or an abstract name when it starts with `@`),
 * sent through the FFI layer. A no-op when `NOTIFY_SOCKET` is unset.
 *
 * @module
 */

import { sendUnixDatagram } from "../ffi/unix_datagram.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { takeEnv } from "./socket_activation.ts";
import { errorMessage } from "../common/mod.ts";

const log = tcpkitLogger("systemd");
const encoder = new TextEncoder();

/** The environment variables of the protocol, all removed once read. */
export const NOTIFY_ENV = [
  "NOTIFY_SOCKET",
  "WATCHDOG_USEC",
  "WATCHDOG_PID",
] as const;

/** How often `STATUS=` is refreshed when no watchdog sets the pace, in ms. */
export const STATUS_INTERVAL_MS = 10_000;

/** What a notifier was told by its environment. */
export interface NotifyConfig {
  /** `NOTIFY_SOCKET`: where to send; `undefined`: notifications are off. */
  readonly socket: string | undefined;
  /** `WATCHDOG_USEC` for this process, in µs; `undefined`: no watchdog. */
  readonly watchdogUsec: number | undefined;
}

/**
 * Reads the notification variables as `sd_notify()` and
 * `sd_watchdog_enabled()` do.
 *
 * @param env The variables (`undefined` when unset).
 * @param pid This process's pid.
 * @returns The socket (none when unset or empty) and the watchdog period
 * (none when unset, not a positive integer, or `WATCHDOG_PID` names
 * another process).
 */
export function parseNotifyEnv(
  env: Readonly<
    Partial<Record<(typeof NOTIFY_ENV)[number], string | undefined>>
  >,
  pid: number,
): NotifyConfig & { readonly problem?: string } {
  const socket = env.NOTIFY_SOCKET === "" ? undefined : env.NOTIFY_SOCKET;
  const usec = env.WATCHDOG_USEC;
  const owner = env.WATCHDOG_PID;
  if (usec === undefined || socket === undefined) {
    return { socket, watchdogUsec: undefined };
  }
  if (owner !== undefined && owner !== String(pid)) {
    return { socket, watchdogUsec: undefined };
  }
  if (!/^[0-9]+$/.test(usec) || Number(usec) < 1000) {
    return {
      socket,
      watchdogUsec: undefined,
      problem:
        `ignoring WATCHDOG_USEC "${usec}": expected microseconds, at least 1000`,
    };
  }
  return { socket, watchdogUsec: Number(usec) };
}

/**
 * Tells the service manager how the service is doing.
 *
 * @example
 * ```ts ignore
 * const notifier = ServiceNotifier.fromEnv();
 * notifier.ready(`serving on 127.0.0.1:1971`);
 * const stop = notifier.keepAlive(() => `${server.connectionCount} connections`);
 * // …on SIGTERM:
 * notifier.stopping();
 * stop();
 * ```
 */
export class ServiceNotifier {
  readonly #socket: string | undefined;
  readonly #watchdogUsec: number | undefined;
  #failed = false;

  /**
   * A notifier for the given settings (see {@linkcode ServiceNotifier.fromEnv}).
   *
   * @param config Where to send, and the watchdog period.
   */
  constructor(config: NotifyConfig) {
    this.#socket = config.socket;
    this.#watchdogUsec = config.watchdogUsec;
  }

  /**
   * Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` and removes
   * them from the environment, so that processes we start (workers,
   * daemons) neither notify in our name nor are taken for the watched
   * process. Needs `--allow-env` for the three; without it, a no-op
   * notifier.
   *
   * @returns The notifier.
   */
  static fromEnv(): ServiceNotifier {
    const config = parseNotifyEnv({
      NOTIFY_SOCKET: takeEnv("NOTIFY_SOCKET"),
      WATCHDOG_USEC: takeEnv("WATCHDOG_USEC"),
      WATCHDOG_PID: takeEnv("WATCHDOG_PID"),
    }, Deno.pid);
    if (config.problem !== undefined) log.warn(config.problem);
    return new ServiceNotifier(config);
  }

  /** True when notifications go somewhere. */
  get enabled(): boolean {
    return this.#socket !== undefined;
  }

  /** The watchdog period in µs, if the service manager watches us. */
  get watchdogUsec(): number | undefined {
    return this.#watchdogUsec;
  }

  /**
   * Sends `KEY=VALUE` lines as one datagram. A failure is logged (once) and
   * never thrown: a service must not die because its manager went away.
   *
   * @param lines E.g. `["READY=1", "STATUS=serving"]`; newlines in a
   * value are replaced by spaces.
   * @returns Whether the datagram was sent.
   */
  notify(lines: readonly string[]): boolean {
    if (this.#socket === undefined) return false;
    const text = lines.map((line) => line.replaceAll("\n", " ")).join("\n");
    try {
      sendUnixDatagram(this.#socket, encoder.encode(text));
      this.#failed = false;
      return true;
    } catch (error) {
      if (!this.#failed) {
        log.warn("cannot notify {socket}: {error}", {
          socket: this.#socket,
          error: errorMessage(error),
        });
      }
      this.#failed = true;
      return false;
    }
  }

  /**
   * `READY=1`, with a status line.
   *
   * @param status The `STATUS=` text.
   * @returns Whether it was sent.
   */
  ready(status: string): boolean {
    return this.notify(["READY=1", `STATUS=${status}`]);
  }

  /**
   * `STOPPING=1`, with a status line.
   *
   * @param status The `STATUS=` text.
   * @returns Whether it was sent.
   */
  stopping(status: string): boolean {
    return this.notify(["STOPPING=1", `STATUS=${status}`]);
  }

  /**
   * Starts one timer: every half watchdog period it sends `WATCHDOG=1`
   * (and `STATUS=` when it changed); without a watchdog it refreshes
   * `STATUS=` every {@linkcode STATUS_INTERVAL_MS} when it changed. The
   * timer does not keep the process alive. Nothing runs when notifications
   * are off.
   *
   * @param status The current status line, asked at each tick.
   * @returns Stops the timer.
   */
  keepAlive(status: () => string): () => void {
    if (this.#socket === undefined) return () => {};
    const watchdog = this.#watchdogUsec;
    const period = watchdog === undefined
      ? STATUS_INTERVAL_MS
      : Math.max(1, Math.floor(watchdog / 2000));
    let last = "";
    const timer = setInterval(() => {
      const now = status();
      const lines = watchdog === undefined ? [] : ["WATCHDOG=1"];
      if (now !== last) lines.push(`STATUS=${now}`);
      if (lines.length > 0 && this.notify(lines)) last = now;
    }, period);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  }
}
