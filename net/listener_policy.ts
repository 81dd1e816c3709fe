/**
 * The connection policies tcpkit's listeners apply, in one place (the
 * `Deno.listen` engine and the epoll echo engine; the takeover server keeps
 * its own, since its connections move between processes):
 * counting, refuse-or-pause at `maxConns`, retiring after `maxTotalConns`,
 * backing off after a failed accept, the idle sweep (with the reset of a
 * peer that reads nothing), and the drain deadline. An engine owns its
 * sockets and its accept loop; it tells the policy what happened and does
 * what the policy asks through {@linkcode PolicyActions}.
 */
import { LogBudget } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { acceptErrorAction, logAcceptFailure } from "./accept_error.ts";

const log = tcpkitLogger("server");
// Lines a remote client can cause: a flood of them must not flood the log.
const budget = new LogBudget();

/** Message sent to a connection closed for inactivity (tcp-echo's text). */
export const IDLE_MESSAGE = "Closing connection due to inactivity\n";
/** After EMFILE and friends, accepting waits this long instead of spinning. */
export const ACCEPT_RETRY_MS = 100;

/** The limits and close behaviour shared by every engine. */
export interface ListenerLimits {
  /** Most connections served at once; 0 means no limit. @default {10000} */
  maxConns?: number;
  /**
   * At `maxConns`: `"refuse"` accepts and sends `refusalMessage`, `"pause"`
   * stops accepting so new connections wait in the backlog.
   * @default {"refuse"}
   */
  maxConnsPolicy?: "refuse" | "pause";
  /** Stop accepting after this many connections, then finish once they end; 0 never. @default {0} */
  maxTotalConns?: number;
  /**
   * Close connections idle this long, in ms, and reset one whose peer has
   * read nothing of a reply for this long; 0 disables both. @default {0}
   */
  idleTimeoutMs?: number;
  /** How long a drain waits for connections to finish, in ms. @default {10000} */
  drainTimeoutMs?: number;
  /** Server-side closes (idle, drain) send an RST instead of a FIN. @default {false} */
  resetOnClose?: boolean;
  /** The line sent to a connection refused by `maxConns`. @default {"ERR too many connections\n"} */
  refusalMessage?: string;
}

/** What the idle sweep reads of a connection; engines keep these fields up to date. */
export interface TrackedConn {
  /** Sequence number on its server, from 1. */
  readonly id: number;
  /** True once this side closed it (the engine may still hold it a moment). */
  readonly closed: boolean;
  /** Grows with every read (or line) that counts as activity. */
  readonly activity: number;
  /** True while a command runs: the idle timeout does not apply. */
  readonly busy: boolean;
  /** When the write in progress began (ms), if one waits for the peer to read. */
  readonly writingSince: number | undefined;
  /** Activity count at the last sweep (the policy's). */
  idleSeen: number;
  /** When the activity count last changed, as the sweep saw it (ms; the policy's). */
  idleSince: number;
}

/** What the policy asks of its engine. */
export interface PolicyActions<C> {
  /** Start (true) or stop (false) taking connections from the listener. */
  setAccepting(on: boolean): void;
  /** Close the listener for good: `maxTotalConns` was reached. */
  retire(): void;
  /** Send the idle message and close (as `resetOnClose` says). */
  closeIdle(conn: C): void;
  /** Reset a connection whose peer reads nothing. */
  resetStalled(conn: C): void;
  /** The peer, for logs. */
  peer(conn: C): string;
}

/** Why accepting is off; accepting runs only while none applies. */
type Hold = "limit" | "back-off" | "stall";

/**
 * One listener's policy state. The engine reports `opened`, `closed` and
 * failed accepts; the policy keeps the counts and switches accepting on and
 * off.
 *
 * @example
 * ```ts ignore
 * const policy = new ListenerPolicy(options, {
 *   setAccepting: (on) => reactor.setEvents(listenFd, on ? EPOLLIN : 0),
 *   retire: () => closeListener(),
 *   closeIdle: (conn) => closeWithIdleMessage(conn),
 *   resetStalled: (conn) => reset(conn),
 *   peer: (conn) => conn.peer,
 * });
 * if (policy.refuses()) refuse(fd); else policy.opened(newConn(fd));
 * ```
 */
export class ListenerPolicy<C extends TrackedConn> {
  /** The connections open now. */
  readonly conns: Set<C> = new Set();
  /** Most connections served at once; 0: no limit. */
  readonly maxConns: number;
  /** At `maxConns`, hold accepting (true) or refuse (false). */
  readonly pauseAtLimit: boolean;
  /** Connections served before retiring; 0: never. */
  readonly maxTotalConns: number;
  /** The idle timeout in ms; 0: none. */
  readonly idleTimeoutMs: number;
  /** How long a drain waits, in ms. */
  readonly drainTimeoutMs: number;
  /** Server-side closes send an RST. */
  readonly resetOnClose: boolean;
  /** The line a refused connection gets. */
  readonly refusalMessage: string;
  readonly #actions: PolicyActions<C>;
  readonly #holds = new Set<Hold>();
  #listening = true;
  #retiring = false;
  #nextId = 1;
  #accepted = 0;
  #refused = 0;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Takes the limits (defaults filled in) and the engine's actions; starts
   * the idle sweep.
   *
   * @throws {RangeError} When a limit is negative, not a number, or (for
   * the counts) not an integer.
   */
  constructor(limits: ListenerLimits, actions: PolicyActions<C>) {
    this.maxConns = limits.maxConns ?? 10000;
    this.pauseAtLimit = limits.maxConnsPolicy === "pause";
    this.maxTotalConns = limits.maxTotalConns ?? 0;
    this.idleTimeoutMs = limits.idleTimeoutMs ?? 0;
    this.drainTimeoutMs = limits.drainTimeoutMs ?? 10000;
    this.resetOnClose = limits.resetOnClose ?? false;
    this.refusalMessage = limits.refusalMessage ?? "ERR too many connections\n";
    for (const name of ["maxConns", "maxTotalConns"] as const) {
      const value = this[name];
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(
          `Invalid ${name}: expected an integer >= 0 (0: no limit), got ${value}`,
        );
      }
    }
    for (const name of ["idleTimeoutMs", "drainTimeoutMs"] as const) {
      const value = this[name];
      if (!Number.isFinite(value) || value < 0) {
        throw new RangeError(
          `Invalid ${name}: expected a number of ms >= 0, got ${value}`,
        );
      }
    }
    this.#actions = actions;
    const idle = this.idleTimeoutMs;
    if (idle > 0) {
      const period = Math.min(1000, Math.max(20, idle / 4));
      this.#sweep = setInterval(() => this.#sweepIdle(), period);
    }
  }

  /** Connections accepted and served since start. */
  get acceptedCount(): number {
    return this.#accepted;
  }

  /** Connections refused by the connection limit since start. */
  get refusedCount(): number {
    return this.#refused;
  }

  /** True once `maxTotalConns` was reached: no more accepting. */
  get retiring(): boolean {
    return this.#retiring;
  }

  /** True while the listener is open. */
  get listening(): boolean {
    return this.#listening;
  }

  /** True while the engine should take connections. */
  get accepting(): boolean {
    return this.#listening && this.#holds.size === 0;
  }

  /** True while the `stall-accept` hold applies. */
  get stalled(): boolean {
    return this.#holds.has("stall");
  }

  /** The next connection id. */
  nextId(): number {
    return this.#nextId++;
  }

  /**
   * Called for each accepted socket before it is served: true when the
   * connection limit refuses it (counted and logged; the engine sends
   * `refusalMessage` and closes).
   */
  refuses(peer: () => string): boolean {
    const maxConns = this.maxConns;
    if (maxConns <= 0 || this.conns.size < maxConns) return false;
    this.#refused++;
    const more = budget.tail("refuse");
    if (more !== undefined) {
      log.warn(
        "refusing {peer}: {count} connections open (limit {maxConns}){more}",
        { peer: peer(), count: this.conns.size, maxConns, more },
      );
    }
    return true;
  }

  /** A connection is now served: counts it, pauses at the limit, retires at the total. */
  opened(conn: C): void {
    conn.idleSeen = conn.activity;
    conn.idleSince = performance.now();
    this.conns.add(conn);
    this.#accepted++;
    log.debug(
      "connection {id} from {peer}",
      () => ({ id: conn.id, peer: this.#actions.peer(conn) }),
    );
    const maxConns = this.maxConns;
    if (this.pauseAtLimit && maxConns > 0 && this.conns.size >= maxConns) {
      log.info("pausing accept: {count} connections open (limit {maxConns})", {
        count: this.conns.size,
        maxConns,
      });
      this.#hold("limit", true);
    }
    const total = this.maxTotalConns;
    if (total > 0 && this.#accepted >= total && !this.#retiring) {
      this.#retiring = true;
      log.info(
        "served {count} connections (limit {maxTotalConns}): no longer accepting",
        { count: this.#accepted, maxTotalConns: total },
      );
      this.stopListening();
      this.#actions.retire();
    }
  }

  /** A connection is gone: frees its slot (and resumes a paused accept). */
  closed(conn: C): void {
    if (!this.conns.delete(conn)) return;
    log.debug(
      "connection {id} from {peer} closed",
      () => ({ id: conn.id, peer: this.#actions.peer(conn) }),
    );
    if (this.#holds.has("limit") && this.conns.size < this.maxConns) {
      log.info("resuming accept");
      this.#hold("limit", false);
    }
  }

  /**
   * An accept failed. A connection that died in the backlog is skipped at
   * once (`"next"`); anything else (EMFILE…) holds accepting for
   * {@linkcode ACCEPT_RETRY_MS} (`"back-off"`).
   */
  acceptFailed(error: unknown): "next" | "back-off" {
    if (acceptErrorAction(error) === "next") {
      // Reset while it waited in the backlog: nothing to serve, no pause.
      log.debug("accept: connection gone before accept: {error}", {
        error: String(error),
      });
      return "next";
    }
    logAcceptFailure(error);
    this.#hold("back-off", true);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#hold("back-off", false);
    }, ACCEPT_RETRY_MS);
    return "back-off";
  }

  /** Holds accepting while `stalled` (the `stall-accept` fault). */
  setStalled(stalled: boolean): void {
    if (stalled === this.stalled) return;
    log.info(stalled ? "accepting stalled" : "accepting again");
    this.#hold("stall", stalled);
  }

  /** The listener is closed (shutdown or retire): accepting is over. */
  stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#holds.clear();
    clearTimeout(this.#retryTimer);
  }

  /**
   * Starts the drain deadline: after `drainTimeoutMs`, `closeRest` closes
   * what is still open. {@linkcode ListenerPolicy.dispose} cancels it.
   */
  startDrain(closeRest: () => void): void {
    if (this.#drainTimer !== undefined) return;
    this.#drainTimer = setTimeout(closeRest, this.drainTimeoutMs);
  }

  /** Stops every timer (sweep, back-off, drain). */
  dispose(): void {
    this.stopListening();
    clearInterval(this.#sweep);
    clearTimeout(this.#drainTimer);
    this.#sweep = undefined;
  }

  #hold(hold: Hold, on: boolean): void {
    const before = this.accepting;
    if (on) this.#holds.add(hold);
    else this.#holds.delete(hold);
    const after = this.accepting;
    if (after !== before) this.#actions.setAccepting(after);
  }

  #sweepIdle(): void {
    const now = performance.now();
    const limit = this.idleTimeoutMs;
    for (const conn of [...this.conns]) {
      if (conn.closed) continue;
      const since = conn.writingSince;
      if (since !== undefined && now - since >= limit) {
        // A peer that reads nothing holds a reply, its slot and kernel
        // buffers: nothing more can reach it, so reset it.
        const more = budget.tail("stalled");
        if (more !== undefined) {
          log.info(
            "resetting connection {id} from {peer}: it read nothing for {seconds} s{more}",
            {
              id: conn.id,
              peer: this.#actions.peer(conn),
              seconds: Math.round((now - since) / 1000),
              more,
            },
          );
        }
        this.#actions.resetStalled(conn);
        continue;
      }
      if (conn.busy) continue;
      if (conn.activity !== conn.idleSeen) {
        conn.idleSeen = conn.activity;
        conn.idleSince = now;
      } else if (now - conn.idleSince >= limit) {
        const more = budget.tail("idle");
        if (more !== undefined) {
          log.info("closing idle connection {id} from {peer}{more}", {
            id: conn.id,
            peer: this.#actions.peer(conn),
            more,
          });
        }
        this.#actions.closeIdle(conn);
      }
    }
  }
}
