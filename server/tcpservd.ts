/**
 * tcpservd as a library: a health-flipping test server on one port, or a
 * byte-transparent echo server, on the shared listener machinery.
 */
import { VERSION } from "../common/mod.ts";
import { getSocketOption, setSocketOption } from "../ffi/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import type { AgentState } from "./agent_state.ts";
import { buggySession } from "./buggy_session.ts";
import { type CommandObserver, commandSession } from "./command_session.ts";
import type { ControlPolicy } from "./control_policy.ts";
import type { ReplyFraming } from "./reply_framing.ts";
import { echoSession } from "./echo_session.ts";
import { withFaults } from "./fault_session.ts";
import type { FaultSet } from "./fault_set.ts";
import { type Health, HealthState } from "./health_state.ts";
import {
  applyListenerOptions,
  type ListenerSocketOptions,
} from "../net/listener_options.ts";
import { EpollEchoServer } from "./epoll_echo_server.ts";
import type { ListeningServer } from "../net/listening_server.ts";
import { TcpServer, type TcpServerOptions } from "../net/tcp_server.ts";

const log = tcpkitLogger("tcpservd");

/** What a tcpservd serves: its line protocol, a plain echo, or buggy-tcpserver's commands. */
export type TcpservdMode = "command" | "echo" | "buggy";

/**
 * How the echo mode does its I/O: `"epoll"` on raw sockets and an inline
 * epoll reactor ({@linkcode EpollEchoServer}: the fastest, but it owns the
 * JavaScript thread and Deno timers run up to 250 ms late), or `"deno"` on
 * `Deno.listen` ({@linkcode TcpServer}, which can inject faults).
 */
export type EchoEngine = "epoll" | "deno";

/** Options of {@linkcode Tcpservd}. */
export interface TcpservdOptions
  extends
    Omit<TcpServerOptions, "configure" | "configureListener">,
    ListenerSocketOptions {
  /** The line protocol with GOOD/BAD state, or a plain echo. @default {"command"} */
  mode?: TcpservdMode;
  /**
   * The echo mode's I/O engine; other modes always use `"deno"`. The
   * tcpservd command picks `"epoll"` unless faults are given.
   * @default {"deno"}
   */
  engine?: EchoEngine;
  /** The state at start. @default {"GOOD"} */
  initialState?: Health;
  /** Where the state lives when it is shared with other processes (see {@linkcode HealthState}). */
  stateCell?: Int32Array;
  /** `quit` answers `BAD` while the state is BAD. @default {false} */
  badQuit?: boolean;
  /** Longest request line in bytes. @default {4096} */
  maxLine?: number;
  /** Most `startloop`s running at once. @default {8} */
  maxLoops?: number;
  /** Check (and log) SO_REUSEADDR on the listener. @default {false} */
  reuseAddr?: boolean;
  /** Name in the reply to `hostname`. @default {Deno.hostname()} */
  serverName?: string;
  /** Faults to inject (see `fault_spec.ts`); the `fault` command edits the same set. */
  faults?: FaultSet;
  /** Who may send setbad, setgood, startloop and fault. @default {new ControlPolicy()} */
  control?: ControlPolicy;
  /** How replies are cut on the wire (see `reply_framing.ts`). @default {"tcpkit"} */
  framing?: ReplyFraming;
  /** Buggy mode: `-L` leak bits. @default {0} */
  leakBits?: number;
  /** Buggy mode: `--linger`; 0 resets on close, negative closes with a FIN. @default {0} */
  linger?: number;
  /** Told about commands and startloops (the command mode's metrics). */
  commandObserver?: CommandObserver;
  /** HAProxy agent settings the agent commands change (see `agent_state.ts`). */
  agent?: AgentState;
}

/**
 * A running tcpservd.
 *
 * @example
 * ```ts ignore
 * import { Tcpservd } from "@tcpkit/tcpkit/server";
 * await using server = new Tcpservd({ hostname: "127.0.0.1", port: 0 });
 * server.state.set("BAD"); // every client now reads BAD from getstatus
 * ```
 */
export class Tcpservd {
  /** The server-wide health state. */
  readonly state: HealthState;
  readonly #server: ListeningServer;

  /**
   * Listens at once.
   *
   * @throws {Deno.errors.AddrInUse} When the port is taken.
   * @throws {RangeError} For the epoll engine with faults, or with a mode
   * other than echo.
   */
  constructor(options: TcpservdOptions = {}) {
    this.state = options.stateCell
      ? new HealthState(undefined, options.stateCell)
      : new HealthState(options.initialState ?? "GOOD");
    if (options.engine === "epoll") {
      const hasFaults = (options.faults?.list().length ?? 0) > 0;
      if (options.mode !== "echo" || hasFaults) {
        throw new RangeError(
          "The epoll engine serves the echo mode only, without faults",
        );
      }
      const server = new EpollEchoServer(options);
      if (options.reuseAddr) reportReuseAddr(server.listenerFd);
      this.#server = server;
      return;
    }
    const inner = options.mode === "echo"
      ? echoSession()
      : options.mode === "buggy"
      ? buggySession({
        leak: options.leakBits ?? 0,
        linger: options.linger ?? 0,
      })
      : commandSession({
        state: this.state,
        version: VERSION,
        hostname: options.serverName ?? Deno.hostname(),
        badQuit: options.badQuit ?? false,
        maxLine: options.maxLine ?? 4096,
        maxLoops: options.maxLoops ?? 8,
        ...(options.faults ? { faults: options.faults } : {}),
        ...(options.control ? { control: options.control } : {}),
        ...(options.framing ? { framing: options.framing } : {}),
        ...(options.commandObserver
          ? { observer: options.commandObserver }
          : {}),
        ...(options.agent ? { agent: options.agent } : {}),
      });
    const handler = options.faults
      ? withFaults(inner, options.faults, options.maxConns ?? 10000)
      : inner;
    this.#server = new TcpServer(handler, {
      ...options,
      ...(options.faults ? { acceptGate: options.faults } : {}),
      configureListener: (listenerFd) => {
        const applied = applyListenerOptions(listenerFd, options);
        if (Object.keys(applied).length > 0) {
          log.debug("listener socket options (getsockopt): {applied}", {
            applied,
          });
        }
        if (options.reuseAddr) reportReuseAddr(listenerFd());
      },
    });
  }

  /** The address bound. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** The serving engine (counts, limits). */
  get server(): ListeningServer {
    return this.#server;
  }

  /** Stops accepting, drains the connections, resolves when all are closed. */
  shutdown(): Promise<void> {
    return this.#server.shutdown();
  }

  /** Same as {@linkcode Tcpservd.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

function reportReuseAddr(fd: number): void {
  // Deno (and listenTcp) set SO_REUSEADDR on every listener; read it back to prove it.
  if (getSocketOption(fd, "SO_REUSEADDR") !== 1) {
    setSocketOption(fd, "SO_REUSEADDR", 1);
  }
  log.info("SO_REUSEADDR on listener: {value} (getsockopt)", {
    value: getSocketOption(fd, "SO_REUSEADDR"),
  });
}
