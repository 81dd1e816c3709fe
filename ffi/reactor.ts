/**
 * An epoll reactor: readiness callbacks for raw fds, driven by one loop that
 * polls `epoll_wait()` synchronously while events keep coming and otherwise
 * waits either on Deno's blocking thread pool (JavaScript never blocks) or,
 * cheaper per event, on the JavaScript thread itself with Deno's own epoll
 * instance in the set (see {@linkcode ReactorOptions.wait}).
 *
 * @module
 */

import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLLIN,
} from "./constants.ts";
import { check, EBADF, EINTR, ENOENT, errno, errnoError } from "./errno.ts";
import { EPOLL_EVENT } from "./layout.ts";
import { libc } from "./libc.ts";
import { EventLoopTurn } from "./event_loop_turn.ts";
import { epollFds } from "./runtime_epolls.ts";
import { validateFd } from "./_validate.ts";

/** Called with the `EPOLL*` bits reported for a watched fd. */
export type ReadinessHandler = (events: number) => void;

/** Where a {@linkcode Reactor} waits when nothing is ready; see {@linkcode ReactorOptions.wait}. */
export type ReactorWait = "pool" | "inline";

/** Options of {@linkcode Reactor.create}. */
export interface ReactorOptions {
  /** Most events taken from the kernel per `epoll_wait()`. @default {1024} */
  maxEvents?: number;
  /**
   * Where the loop waits when no fd is ready:
   * - `"pool"`: in `epoll_wait()` on Deno's blocking thread pool, so
   *   JavaScript never blocks; each wait costs a hand-off between threads.
   * - `"inline"`: in `epoll_wait()` on the JavaScript thread, with Deno's
   *   own epoll instance (the one watching a socket of Deno's, found through
   *   `/proc/self/fdinfo`) in the set: when Deno
   *   has I/O to handle (a signal, its own sockets and pipes, a finished
   *   op), the wait ends and the loop gives Deno's event loop one whole
   *   turn ({@linkcode EventLoopTurn}, which needs `--allow-net` for
   *   127.0.0.1). This takes no thread hand-off per event. Deno's timers
   *   are invisible to epoll, so a wait lasts at most `waitTimeoutMs` and
   *   timers run up to that late, as may, rarely, other Deno callbacks;
   *   and promise work that a handler starts advances only between waits,
   *   so handlers should be synchronous. One inline reactor per thread (a
   *   second one is refused until the first is closed): it owns the thread
   *   while it runs.
   * @default {"pool"}
   */
  wait?: ReactorWait;
  /**
   * With `wait: "pool"`, how long one wait on the thread pool may last, in
   * ms: a wake-up ends the wait at once, so this only stops the wait from
   * pinning the process forever if everything else has gone. With
   * `wait: "inline"`, the longest the JavaScript thread stays in one wait
   * without giving Deno's event loop a turn, so the most a Deno timer can
   * be late.
   * @default {1000 with "pool", 50 with "inline"}
   */
  waitTimeoutMs?: number;
  /**
   * Called when a handler throws; the reactor goes on with the next event.
   * @default {rethrow the error asynchronously, which ends the process unless handled}
   */
  onError?: (error: unknown, fd: number) => void;
}

interface Registration {
  readonly generation: number;
  events: number;
  readonly handler: ReadinessHandler;
}

// After this many back-to-back synchronous polls that found events, the loop
// waits on the thread pool once anyway, so timers and signals get a turn.
const SYNC_POLLS_BEFORE_YIELD = 16;
// epoll_data of Deno's own epoll fds in an inline reactor's set; generations
// of watched fds never reach it.
const RUNTIME_GENERATION = 0xffff_ffff;
// Microtask ticks an inline reactor lets pass after a turn of Deno's event
// loop before it blocks again: enough for the await chains of Deno's own
// callbacks to reach their next op; anything deeper waits for the next wake.
const DRAIN_TICKS_AFTER_YIELD = 16;
// The epoll fds of this module's reactors: never mistaken for Deno's own.
const reactorEpolls = new Set<number>();
// The inline reactor of this thread (module state is per isolate), if any.
let inlineReactor: Reactor | undefined;

/**
 * An epoll instance with a dispatch loop: {@linkcode Reactor.watch} an fd
 * with the events wanted and a handler; the handler runs whenever the fd is
 * ready. Level-triggered: a handler that leaves data unread is called again.
 *
 * The loop first calls `epoll_wait(…, 0)` synchronously (cheap when many fds
 * are busy) and only when nothing is ready does it wait, with a timeout, as
 * a `nonblocking` FFI call on Deno's thread pool; an eventfd wakes that wait
 * at close. Handlers run on the JavaScript thread, one at a time.
 *
 * A removed fd gets no more calls, even for events already taken from the
 * kernel: each registration carries a generation in `epoll_data`.
 *
 * @example Wait until a socket is readable
 * ```ts ignore
 * import { EPOLLIN } from "./constants.ts";
 * import { Reactor } from "./reactor.ts";
 *
 * await using reactor = Reactor.create();
 * reactor.watch(fd, EPOLLIN, () => console.log("readable"));
 * ```
 */
export class Reactor {
  readonly #epfd: number;
  readonly #wakeFd: number;
  readonly #events: Uint8Array;
  readonly #view: DataView;
  readonly #maxEvents: number;
  readonly #wait: ReactorWait;
  readonly #waitTimeoutMs: number;
  readonly #onError: (error: unknown, fd: number) => void;
  readonly #registrations = new Map<number, Registration>();
  readonly #ctl = new Uint8Array(new ArrayBuffer(EPOLL_EVENT.size));
  readonly #ctlView = new DataView(this.#ctl.buffer);
  readonly #wakeBuffer = new BigUint64Array(new ArrayBuffer(8));
  readonly #loop: Promise<void>;
  #generation = 0;
  #closing = false;
  #closed = false;
  #waitsOnPool = 0;
  #yields = 0;
  #syncPolls = 0;

  private constructor(
    epfd: number,
    wakeFd: number,
    options: Required<ReactorOptions>,
  ) {
    this.#epfd = epfd;
    this.#wakeFd = wakeFd;
    this.#maxEvents = options.maxEvents;
    this.#wait = options.wait;
    this.#waitTimeoutMs = options.waitTimeoutMs;
    this.#onError = options.onError;
    this.#events = new Uint8Array(
      new ArrayBuffer(EPOLL_EVENT.size * this.#maxEvents),
    );
    this.#view = new DataView(this.#events.buffer);
    this.#control(EPOLL_CTL_ADD, wakeFd, EPOLLIN, 0);
    if (options.wait === "inline") {
      this.#loop = this.#runInline();
    } else {
      this.#loop = this.#run();
    }
  }

  /**
   * Creates the epoll instance and its wake-up eventfd, and starts the loop.
   *
   * @param options Event batch size, where and how long to wait, error handler.
   * @returns The running reactor; close it to stop the loop.
   * @throws {RangeError} When `maxEvents`, `wait` or `waitTimeoutMs` is out of range.
   * @throws {Error} For `wait: "inline"`, when another inline reactor runs
   * on this thread.
   * @throws {ErrnoError} When `epoll_create1()` or `eventfd()` fails (EMFILE),
   * or, inline, when `/proc/self/fd` cannot be read.
   */
  static create(options: ReactorOptions = {}): Reactor {
    const maxEvents = options.maxEvents ?? 1024;
    const wait = options.wait ?? "pool";
    if (wait !== "pool" && wait !== "inline") {
      throw new RangeError(
        `Invalid wait: expected "pool" or "inline", got ${String(wait)}`,
      );
    }
    if (wait === "inline") {
      if (inlineReactor !== undefined) {
        throw new Error(
          'Cannot create an inline Reactor: one already runs on this thread (close it, or use wait: "pool")',
        );
      }
      // Fails here, with its reason, where /proc cannot be read: without
      // Deno's epoll in the set the thread would starve Deno.
      epollFds();
    }
    const waitTimeoutMs = options.waitTimeoutMs ??
      (wait === "inline" ? 50 : 1000);
    if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 65536) {
      throw new RangeError(
        `Invalid maxEvents: expected an integer from 1 to 65536, got ${maxEvents}`,
      );
    }
    if (
      !Number.isInteger(waitTimeoutMs) || waitTimeoutMs < 1 ||
      waitTimeoutMs > 60000
    ) {
      throw new RangeError(
        `Invalid waitTimeoutMs: expected an integer from 1 to 60000, got ${waitTimeoutMs}`,
      );
    }
    const c = libc();
    const epfd = check(c.epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    let wakeFd: number;
    try {
      wakeFd = check(c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd");
    } catch (error) {
      c.close(epfd);
      throw error;
    }
    const onError = options.onError ?? ((error: unknown) => {
      queueMicrotask(() => {
        throw error;
      });
    });
    try {
      const reactor = new Reactor(epfd, wakeFd, {
        maxEvents,
        wait,
        waitTimeoutMs,
        onError,
      });
      reactorEpolls.add(epfd);
      if (wait === "inline") inlineReactor = reactor;
      return reactor;
    } catch (error) {
      c.close(wakeFd);
      c.close(epfd);
      throw error;
    }
  }

  /** How many fds are watched. */
  get size(): number {
    return this.#registrations.size;
  }

  /** Whether {@linkcode Reactor.close} was called. */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Watches `fd` for `events` (`EPOLLIN`, `EPOLLOUT`, `EPOLLRDHUP`…;
   * `EPOLLERR` and `EPOLLHUP` are always reported), calling `handler` with
   * the bits reported. Watching an fd already watched replaces its events
   * and handler.
   *
   * @param fd An open fd that epoll supports (a socket, pipe, eventfd).
   * @param events The `EPOLL*` bits wanted; 0 watches only errors and hang-ups.
   * @param handler Called on the JavaScript thread when `fd` is ready.
   * @throws {Error} After close.
   * @throws {ErrnoError} When `epoll_ctl()` fails (EBADF, EPERM for a regular file).
   */
  watch(fd: number, events: number, handler: ReadinessHandler): void {
    validateFd(fd);
    this.#assertOpen();
    const old = this.#registrations.get(fd);
    const generation = this.#nextGeneration();
    this.#control(
      old === undefined ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
      fd,
      events,
      generation,
    );
    this.#registrations.set(fd, { generation, events, handler });
  }

  /**
   * Changes the events watched on `fd`, keeping its handler.
   *
   * @param fd A watched fd.
   * @param events The new `EPOLL*` bits.
   * @throws {Error} When `fd` is not watched, or after close.
   */
  setEvents(fd: number, events: number): void {
    this.#assertOpen();
    const registration = this.#registrations.get(fd);
    if (registration === undefined) {
      throw new Error(`Cannot set events of fd ${fd}: it is not watched`);
    }
    if (registration.events === events) return;
    this.#control(EPOLL_CTL_MOD, fd, events, registration.generation);
    registration.events = events;
  }

  /**
   * Stops watching `fd`: no handler call follows, even for events already
   * taken from the kernel. Call it before closing an fd another process may
   * still hold (after a handover): epoll keeps a registration as long as any
   * process has the socket open. Does nothing when `fd` is not watched or is
   * already closed.
   *
   * @param fd The fd.
   */
  unwatch(fd: number): void {
    if (!this.#registrations.delete(fd) || this.#closing) return;
    const rc = libc().epoll_ctl(this.#epfd, EPOLL_CTL_DEL, fd, this.#ctl);
    if (rc < 0) {
      const n = errno();
      if (n !== ENOENT && n !== EBADF) {
        throw errnoError(n, "epoll_ctl", `EPOLL_CTL_DEL of fd ${fd}`);
      }
    }
  }

  /** Whether `fd` is watched. */
  isWatching(fd: number): boolean {
    return this.#registrations.has(fd);
  }

  /**
   * Stops the loop (waking a pending wait), then closes the epoll instance
   * and the eventfd. The watched fds stay open: they belong to the caller.
   * Safe to call more than once.
   *
   * @returns Resolves once the loop has ended.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#registrations.clear();
      this.#wake();
    }
    await this.#loop;
    if (!this.#closed) {
      this.#closed = true;
      reactorEpolls.delete(this.#epfd);
      if (inlineReactor === this) inlineReactor = undefined;
      libc().close(this.#wakeFd);
      libc().close(this.#epfd);
    }
  }

  /** Calls {@linkcode Reactor.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closing) throw new Error("Cannot use a closed Reactor");
  }

  #nextGeneration(): number {
    // 0 is the eventfd's; wrap within u32 skipping it.
    this.#generation = (this.#generation % 0xffff_fffe) + 1;
    return this.#generation;
  }

  #control(op: number, fd: number, events: number, generation: number): void {
    this.#ctlView.setUint32(0, events >>> 0, true);
    this.#ctlView.setUint32(EPOLL_EVENT.data, fd, true);
    this.#ctlView.setUint32(EPOLL_EVENT.data + 4, generation, true);
    check(
      libc().epoll_ctl(this.#epfd, op, fd, this.#ctl),
      "epoll_ctl",
      `of fd ${fd}`,
    );
  }

  #wake(): void {
    this.#wakeBuffer[0] = 1n;
    libc().write(this.#wakeFd, new Uint8Array(this.#wakeBuffer.buffer), 8n);
  }

  async #run(): Promise<void> {
    const c = libc();
    while (!this.#closing) {
      let count = 0;
      if (this.#syncPolls < SYNC_POLLS_BEFORE_YIELD) {
        count = c.epoll_wait(this.#epfd, this.#events, this.#maxEvents, 0);
        if (count < 0) {
          const n = errno();
          if (n !== EINTR) throw errnoError(n, "epoll_wait");
          count = 0;
        }
      }
      if (count > 0) {
        this.#syncPolls++;
        // Let promise callbacks that handlers started run between batches.
        await null;
      } else {
        // Nothing ready (or time to let timers run): wait on the pool. A
        // wait that yielded because of busy fds must not sleep.
        const timeout = this.#syncPolls >= SYNC_POLLS_BEFORE_YIELD
          ? 0
          : this.#waitTimeoutMs;
        this.#syncPolls = 0;
        this.#waitsOnPool++;
        count = await c.epoll_wait_nonblocking(
          this.#epfd,
          this.#events,
          this.#maxEvents,
          timeout,
        );
        if (count < 0) {
          // errno is unreadable after a call on another thread: ask again
          // synchronously; a persistent error shows up there.
          count = c.epoll_wait(this.#epfd, this.#events, this.#maxEvents, 0);
          if (count < 0) {
            const n = errno();
            if (n !== EINTR) throw errnoError(n, "epoll_wait");
            count = 0;
          }
        }
      }
      this.#dispatch(count);
    }
  }

  /** Runs the handlers of `count` events; true if Deno's own epoll was among them. */
  #dispatch(count: number): boolean {
    const view = this.#view;
    let runtime = false;
    for (let i = 0; i < count && !this.#closing; i++) {
      const base = i * EPOLL_EVENT.size;
      const events = view.getUint32(base, true);
      const fd = view.getUint32(base + EPOLL_EVENT.data, true);
      const generation = view.getUint32(base + EPOLL_EVENT.data + 4, true);
      if (generation === RUNTIME_GENERATION) {
        runtime = true;
        continue;
      }
      if (generation === 0) {
        // The wake-up eventfd: drain it.
        libc().read(
          this.#wakeFd,
          new Uint8Array(this.#wakeBuffer.buffer),
          8n,
        );
        continue;
      }
      const registration = this.#registrations.get(fd);
      if (
        registration === undefined || registration.generation !== generation
      ) {
        continue;
      }
      try {
        registration.handler(events);
      } catch (error) {
        this.#onError(error, fd);
      }
    }
    return runtime;
  }

  async #runInline(): Promise<void> {
    const c = libc();
    // Opening the doorbell gives way first: the creator registers its fds
    // in this same turn.
    let turn: EventLoopTurn | undefined;
    try {
      turn = await EventLoopTurn.open();
    } catch {
      // No --allow-net for 127.0.0.1: timer turns, which may spin a little.
    }
    try {
      // This thread's runtime: the one watching the doorbell. Without one,
      // every epoll but reactors' (other runtimes only cost extra turns).
      const exclude = [...reactorEpolls, this.#epfd];
      let fds: number[] = [];
      if (!this.#closing) {
        try {
          fds = turn?.runtimeEpollFds(exclude) ?? [];
        } catch {
          // Checked readable at create(); fall back to every epoll below.
        }
        if (fds.length === 0) fds = epollFds(exclude);
      }
      for (const fd of fds) {
        // Level-triggered: ready for as long as Deno has not taken its events.
        this.#control(EPOLL_CTL_ADD, fd, EPOLLIN, RUNTIME_GENERATION);
      }
      let lastYield = performance.now();
      let mustYield = false;
      while (!this.#closing) {
        // Time left before Deno must get a turn (its timers may be due).
        const left = this.#waitTimeoutMs - (performance.now() - lastYield);
        if (mustYield || left <= 0) {
          this.#yields++;
          if (turn) await turn.take();
          else await new Promise((resolve) => setTimeout(resolve, 0));
          lastYield = performance.now();
          mustYield = false;
          // What Deno resolved in that turn goes on as chains of microtasks
          // queued behind ours; let them run before the thread blocks.
          for (let i = 0; i < DRAIN_TICKS_AFTER_YIELD; i++) await null;
          continue;
        }
        let count = c.epoll_wait(
          this.#epfd,
          this.#events,
          this.#maxEvents,
          Math.ceil(left),
        );
        if (count < 0) {
          const n = errno();
          if (n !== EINTR) throw errnoError(n, "epoll_wait");
          count = 0;
        }
        // Nothing within the wait means the cap passed: Deno's timers may be due.
        mustYield = this.#dispatch(count) || count === 0;
        // Promise work the handlers started runs before the thread blocks.
        await null;
      }
    } finally {
      turn?.close();
    }
  }

  /** How many waits went to the thread pool so far (for tests and benchmarks). */
  get waitsOnPool(): number {
    return this.#waitsOnPool;
  }

  /** How many turns an inline reactor gave Deno's event loop so far (for tests and benchmarks). */
  get yields(): number {
    return this.#yields;
  }

  /** Where this reactor waits. */
  get wait(): ReactorWait {
    return this.#wait;
  }
}
