/**
 * systemd socket activation (`sd_listen_fds`): the listening sockets a
 * service manager (systemd, `systemd-socket-activate`) opened for us and
 * passed as fds 3, 4, … with `LISTEN_FDS`, `LISTEN_PID` and
 * `LISTEN_FDNAMES`. Each fd is checked to be a listening TCP socket, made
 * close-on-exec and non-blocking, and the three variables are removed from
 * the environment so the processes we start do not take them as theirs.
 *
 * @module
 */

import {
  formatIp,
  formatSocketKind,
  getSockName,
  isTcp,
  normalizeAddress,
  setNonBlocking,
  socketKinds,
} from "../ffi/mod.ts";
import { setCloseOnExec } from "../ffi/close_on_exec.ts";
import { errorMessage } from "../common/mod.ts";

/** The first fd passed (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3;
/** Most sockets accepted in `LISTEN_FDS`: more is a mistake, not a service. */
export const MAX_LISTEN_FDS = 1024;
/** The environment variables of the protocol, all removed once read. */
export const LISTEN_ENV = [
  "LISTEN_FDS",
  "LISTEN_PID",
  "LISTEN_FDNAMES",
] as const;

/** A malformed `LISTEN_*` variable, or an fd that is not a listening TCP socket. */
export class SocketActivationError extends Error {
  /**
   * An error with the given message.
   *
   * @param message What is wrong, naming the variable or the fd.
   */
  constructor(message: string) {
    super(message);
    this.name = "SocketActivationError";
  }
}

/** The fds and names that `LISTEN_*` announce for this process. */
export interface ListenFds {
  /** The fds, from 3. */
  readonly fds: readonly number[];
  /** One name per fd (`FileDescriptorName=`, `--fdname`); `"unknown"` when none was given. */
  readonly names: readonly string[];
}

/** A passed socket, checked, ready to serve. */
export interface ActivatedSocket {
  /** The listening fd; the caller owns it now. */
  readonly fd: number;
  /** Its `LISTEN_FDNAMES` name. */
  readonly name: string;
  /** The address it is bound to. */
  readonly addr: Deno.NetAddr;
}

const DIGITS = /^[0-9]+$/;

/**
 * Reads `LISTEN_*` as `sd_listen_fds()` does, without touching any fd.
 *
 * @param env The variables (`undefined` when unset).
 * @param pid This process's pid.
 * @returns The fds and names, or `null` when nothing was passed to this
 * process: `LISTEN_PID` or `LISTEN_FDS` unset, `LISTEN_PID` another
 * process's (inherited from a parent), or `LISTEN_FDS=0`.
 * @throws {SocketActivationError} When a variable is malformed, or there
 * are more than {@linkcode MAX_LISTEN_FDS} fds, or the names do not match
 * the count.
 */
export function parseListenFds(
  env: Readonly<
    Partial<Record<(typeof LISTEN_ENV)[number], string | undefined>>
  >,
  pid: number,
): ListenFds | null {
  const { LISTEN_FDS: count, LISTEN_PID: owner, LISTEN_FDNAMES: names } = env;
  if (owner === undefined || count === undefined) return null;
  if (!DIGITS.test(owner) || Number(owner) < 1) {
    throw new SocketActivationError(
      `Invalid LISTEN_PID "${owner}": expected a process id`,
    );
  }
  if (Number(owner) !== pid) return null;
  if (!DIGITS.test(count) || Number(count) > MAX_LISTEN_FDS) {
    throw new SocketActivationError(
      `Invalid LISTEN_FDS "${count}": expected a count of sockets from 0 to ${MAX_LISTEN_FDS}`,
    );
  }
  const n = Number(count);
  if (n === 0) return null;
  const fds = Array.from({ length: n }, (_, i) => LISTEN_FDS_START + i);
  if (names === undefined) {
    return { fds, names: fds.map(() => "unknown") };
  }
  const split = names.split(":");
  if (split.length !== n) {
    throw new SocketActivationError(
      `Invalid LISTEN_FDNAMES "${names}": ${split.length} names for LISTEN_FDS=${n}`,
    );
  }
  return { fds, names: split };
}

function readEnv(name: string): string | undefined {
  // Without the permission nothing can have been passed to us knowingly;
  // asking would prompt on a terminal.
  const state = Deno.permissions.querySync({ name: "env", variable: name });
  return state.state === "granted" ? Deno.env.get(name) : undefined;
}

/**
 * Reads and removes an environment variable, if the process may.
 *
 * @param name The variable.
 * @returns Its value, or `undefined` when unset or not readable.
 */
export function takeEnv(name: string): string | undefined {
  const value = readEnv(name);
  if (value !== undefined) Deno.env.delete(name);
  return value;
}

/**
 * Whether sockets were passed to this process (`LISTEN_PID` is ours and
 * `LISTEN_FDS` is set), before they are taken: a command line may then
 * leave out its listen address. Reads, removes and checks nothing.
 *
 * @returns `true` when {@linkcode takeActivatedSockets} has something to take.
 */
export function socketsPassed(): boolean {
  const owner = readEnv("LISTEN_PID");
  return owner !== undefined && owner === String(Deno.pid) &&
    readEnv("LISTEN_FDS") !== undefined;
}

/**
 * Takes the listening sockets passed to this process: reads `LISTEN_*`
 * (and removes them from the environment in every case, as
 * `sd_listen_fds(1)` does), checks that each fd is a listening TCP socket,
 * and sets `FD_CLOEXEC` and `O_NONBLOCK` on it.
 *
 * Needs `--allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES` and
 * `--allow-ffi`; without the env permission nothing is taken.
 *
 * @returns The sockets, in fd order, or `null` when none were passed here.
 * @throws {SocketActivationError} When a variable is malformed, or an fd
 * is not open, or not a listening TCP socket (a Unix or UDP socket, a
 * pipe): the message names the fd, its name, and what it is.
 */
export function takeActivatedSockets(): ActivatedSocket[] | null {
  const env = {
    LISTEN_FDS: takeEnv("LISTEN_FDS"),
    LISTEN_PID: takeEnv("LISTEN_PID"),
    LISTEN_FDNAMES: takeEnv("LISTEN_FDNAMES"),
  };
  const passed = parseListenFds(env, Deno.pid);
  if (passed === null) return null;
  return passed.fds.map((fd, i) => checkSocket(fd, passed.names[i]!));
}

function checkSocket(fd: number, name: string): ActivatedSocket {
  const which = `fd ${fd} ("${name}") from LISTEN_FDS`;
  let kind;
  try {
    kind = socketKinds([fd])[0] ?? null;
  } catch (error) {
    throw new SocketActivationError(
      `${which} is not open: ${errorMessage(error)}`,
    );
  }
  if (!isTcp(kind) || !kind.listening) {
    throw new SocketActivationError(
      `${which} is not a listening TCP socket: it is ${
        formatSocketKind(kind)
      } (use ListenStream=ADDRESS:PORT or systemd-socket-activate -l)`,
    );
  }
  setCloseOnExec(fd);
  setNonBlocking(fd);
  const address = getSockName(fd);
  if (address === null) {
    throw new SocketActivationError(`${which} has no address`);
  }
  const normal = normalizeAddress(address);
  return {
    fd,
    name,
    addr: {
      transport: "tcp",
      hostname: formatIp(normal.address),
      port: normal.port,
    },
  };
}
