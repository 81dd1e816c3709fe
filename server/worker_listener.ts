/**
 * Workers under socket activation: the master keeps the listening socket
 * systemd passed (and never accepts on it) and hands each worker a
 * duplicate over a private Unix socket with `SCM_RIGHTS`, since a process
 * started with `Deno.Command` inherits no fd but stdin, stdout and stderr.
 *
 * The master's side, {@linkcode ListenerHandOff}, listens in a fresh 0700
 * directory on a 0600 socket, and answers only a peer whose `SO_PEERCRED`
 * is one of its own running workers, under its own effective uid. The
 * worker's side, {@linkcode receiveListener}, talks only to its parent
 * process, and takes only one listening TCP socket.
 *
 * @module
 */

import {
  acceptSocket,
  closeFd,
  connectUnix,
  effectiveUid,
  formatSocketKind,
  getPeerCredentials,
  isTcp,
  listenUnix,
  Reactor,
  receiveWithFds,
  sendWithFds,
  socketKinds,
  unlinkPath,
} from "../ffi/mod.ts";
import { EPOLLIN } from "../ffi/constants.ts";
import { makePrivateDir, removeEmptyDir } from "../ffi/private_dir.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import { errorMessage, LogBudget } from "../common/mod.ts";

const budget = new LogBudget();
const log = tcpkitLogger("master");

/** The one byte that carries the fd: a version of this exchange. */
const MESSAGE = new Uint8Array([0x4c]); // "L"
/** The socket's name inside the private directory. */
const SOCKET_NAME = "listener.sock";
/** After a failed accept (EMFILE…), how long the master waits to retry. */
const ACCEPT_RETRY_MS = 200;
/** How long a worker waits for the master's answer by default. */
export const DEFAULT_RECEIVE_TIMEOUT_MS = 10000;

/** The hand-off failed: no socket, a peer that is not who it should be, or not a listener. */
export class ListenerHandOffError extends Error {
  /**
   * An error with the given message.
   *
   * @param message What went wrong, naming the path or the peer.
   */
  constructor(message: string) {
    super(message);
    this.name = "ListenerHandOffError";
  }
}

/** Options of {@linkcode ListenerHandOff.open}. */
export interface ListenerHandOffOptions {
  /** The listening socket to hand out; the caller keeps it and closes it. */
  listenFd: number;
  /** Whether `pid` is one of the master's running workers. */
  isWorker: (pid: number) => boolean;
  /** Where the private directory goes. @default {TMPDIR if readable, else /tmp} */
  root?: string;
}

/**
 * The master's side: a private Unix socket that gives each worker that
 * connects a duplicate of the listening socket, then hangs up.
 *
 * @example
 * ```ts ignore
 * const handOff = ListenerHandOff.open({
 *   listenFd: activated[0].fd,
 *   isWorker: (pid) => supervisor.pids.includes(pid),
 * });
 * // start workers with handOff.path on their command line …
 * await handOff.close(); // removes the socket and its directory
 * ```
 */
export class ListenerHandOff {
  /** The socket's path, for the workers' command line. */
  readonly path: string;
  readonly #dir: string;
  readonly #fd: number;
  readonly #listenFd: number;
  readonly #isWorker: (pid: number) => boolean;
  readonly #reactor: Reactor;
  readonly #unload = () => this.#removeFiles();
  #retry: ReturnType<typeof setTimeout> | undefined;
  #handedOut = 0;
  #refused = 0;
  #closed = false;

  private constructor(
    dir: string,
    fd: number,
    reactor: Reactor,
    options: ListenerHandOffOptions,
  ) {
    this.#dir = dir;
    this.path = `${dir}/${SOCKET_NAME}`;
    this.#fd = fd;
    this.#listenFd = options.listenFd;
    this.#isWorker = options.isWorker;
    this.#reactor = reactor;
    this.#watch();
    // A forced exit (Deno.exit) skips close(): the files still go.
    globalThis.addEventListener("unload", this.#unload);
  }

  /**
   * Makes the private directory and the socket, and starts answering.
   *
   * @param options The listener, who may have it, and where.
   * @returns The running hand-off; close it to remove its files.
   * @throws {ErrnoError} When the directory or the socket cannot be made.
   */
  static open(options: ListenerHandOffOptions): ListenerHandOff {
    const dir = makePrivateDir("tcpservd-", options.root);
    let fd: number | undefined;
    try {
      fd = listenUnix(`${dir}/${SOCKET_NAME}`, { mode: 0o600, backlog: 64 });
      return new ListenerHandOff(dir, fd, Reactor.create(), options);
    } catch (error) {
      if (fd !== undefined) {
        closeFd(fd);
        unlinkPath(`${dir}/${SOCKET_NAME}`);
      }
      removeEmptyDir(dir);
      throw error;
    }
  }

  /** How many workers got the listener. */
  get handedOut(): number {
    return this.#handedOut;
  }

  /** How many peers were refused (not a running worker, or another uid). */
  get refused(): number {
    return this.#refused;
  }

  /** Stops answering, and removes the socket and its directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#reactor.unwatch(this.#fd);
    await this.#reactor.close();
    closeFd(this.#fd);
    this.#removeFiles();
    globalThis.removeEventListener("unload", this.#unload);
  }

  #removeFiles(): void {
    try {
      unlinkPath(this.path);
      removeEmptyDir(this.#dir);
    } catch (error) {
      log.warn("cannot remove {dir}: {error}", {
        dir: this.#dir,
        error: errorMessage(error),
      });
    }
  }

  #watch(): void {
    this.#reactor.watch(this.#fd, EPOLLIN, () => this.#acceptAll());
  }

  /** Answers every waiting peer; bounded, the reactor calls again if more wait. */
  #acceptAll(): void {
    for (let i = 0; i < 64; i++) {
      let conn: number | null;
      try {
        conn = acceptSocket(this.#fd);
      } catch (error) {
        // Out of fds: the socket stays readable; look again later, not at once.
        log.warn("cannot accept a worker on {path}: {error}", {
          path: this.path,
          error: errorMessage(error),
        });
        this.#reactor.unwatch(this.#fd);
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          if (!this.#closed) this.#watch();
        }, ACCEPT_RETRY_MS);
        return;
      }
      if (conn === null) return;
      try {
        this.#answer(conn);
      } catch (error) {
        log.warn("cannot hand the listener over: {error}", {
          error: errorMessage(error),
        });
      } finally {
        closeFd(conn);
      }
    }
  }

  /** Sends the listener to a running worker of ours; anyone else gets a hang-up. */
  #answer(conn: number): void {
    const peer = getPeerCredentials(conn);
    if (peer.uid !== effectiveUid() || !this.#isWorker(peer.pid)) {
      this.#refused++;
      // Any process of this uid can ask: a flood of them must not flood the log.
      const more = budget.tail("refused");
      if (more !== undefined) {
        log.warn(
          "refused the listener to pid {pid} (uid {uid}): not a worker of this master{more}",
          { pid: peer.pid, uid: peer.uid, more },
        );
      }
      return;
    }
    // A fresh connection's buffer is empty: the one byte always fits.
    if (sendWithFds(conn, MESSAGE, [this.#listenFd]) === null) {
      throw new ListenerHandOffError(
        `the socket buffer to pid ${peer.pid} is full`,
      );
    }
    this.#handedOut++;
    log.debug("handed the listener to pid {pid}", { pid: peer.pid });
  }
}

/** Options of {@linkcode receiveListener}. */
export interface ReceiveListenerOptions {
  /** The only pid that may answer. @default {Deno.ppid} */
  masterPid?: number;
  /** How long to wait for the answer, in ms. @default {10000} */
  timeoutMs?: number;
}

/**
 * The worker's side: connects to the master's socket at `path`, checks
 * that the master (our parent, our uid) answers, and takes the one fd it
 * sends, which must be a listening TCP socket.
 *
 * @param path The master's socket.
 * @param options Who must answer, and how long to wait.
 * @returns The listening fd (close-on-exec); the caller owns it.
 * @throws {ListenerHandOffError} When the socket cannot be reached, the
 * peer is not the master, nothing (or something else) comes in time.
 */
export async function receiveListener(
  path: string,
  options: ReceiveListenerOptions = {},
): Promise<number> {
  const masterPid = options.masterPid ?? Deno.ppid;
  const timeoutMs = options.timeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS;
  let conn: number;
  try {
    conn = connectUnix(path);
  } catch (error) {
    throw new ListenerHandOffError(
      `Cannot reach the master's listener socket ${path}: ${
        errorMessage(error)
      }`,
    );
  }
  try {
    const peer = getPeerCredentials(conn);
    const uid = effectiveUid();
    if (peer.pid !== masterPid || peer.uid !== uid) {
      throw new ListenerHandOffError(
        `${path} is served by pid ${peer.pid} (uid ${peer.uid}), not by the master (pid ${masterPid}, uid ${uid})`,
      );
    }
    const fds = await receiveFds(conn, path, timeoutMs);
    return checkListener(fds, path);
  } finally {
    closeFd(conn);
  }
}

/** Waits (bounded) for the master's one message, and returns its fds. */
async function receiveFds(
  conn: number,
  path: string,
  timeoutMs: number,
): Promise<number[]> {
  const reactor = Reactor.create();
  const done = Promise.withResolvers<number[]>();
  const timer = setTimeout(
    () =>
      done.reject(
        new ListenerHandOffError(
          `No listener from the master on ${path} within ${timeoutMs} ms`,
        ),
      ),
    timeoutMs,
  );
  const buffer = new Uint8Array(16);
  reactor.watch(conn, EPOLLIN, () => {
    try {
      const received = receiveWithFds(conn, buffer);
      if (received === null) return;
      if (received.bytes === 0) {
        done.reject(
          new ListenerHandOffError(
            `The master hung up on ${path} without a listener (it did not take us for its worker)`,
          ),
        );
      } else if (buffer[0] !== MESSAGE[0]) {
        for (const fd of received.fds) closeFd(fd);
        done.reject(
          new ListenerHandOffError(`Unexpected answer on ${path}`),
        );
      } else {
        done.resolve(received.fds);
      }
    } catch (error) {
      done.reject(
        new ListenerHandOffError(
          `Cannot receive the listener on ${path}: ${errorMessage(error)}`,
        ),
      );
    }
  });
  try {
    return await done.promise;
  } finally {
    clearTimeout(timer);
    reactor.unwatch(conn);
    await reactor.close();
  }
}

/** The one listening TCP socket among `fds`; the others are closed. */
function checkListener(fds: number[], path: string): number {
  if (fds.length !== 1) {
    for (const fd of fds) closeFd(fd);
    throw new ListenerHandOffError(
      `Expected 1 fd from the master on ${path}, got ${fds.length}`,
    );
  }
  const fd = fds[0]!;
  const kind = socketKinds([fd])[0] ?? null;
  if (!isTcp(kind) || !kind.listening) {
    closeFd(fd);
    throw new ListenerHandOffError(
      `The master sent ${
        formatSocketKind(kind)
      } on ${path}, not a listening TCP socket`,
    );
  }
  return fd;
}
