/**
 * The master side of master + N workers: spawn the workers, wait until each
 * says it is ready, respawn the ones that die (with backoff), give up on a
 * crash loop, forward signals, and stop them all.
 */
import { tcpkitLogger } from "../logging/mod.ts";

const log = tcpkitLogger("master");
const decoder = new TextDecoder();

/** The line a worker writes on its stdout once it accepts connections. */
export const READY_LINE = "ready";

/** Options of {@linkcode WorkerSupervisor}. */
export interface WorkerSupervisorOptions {
  /** How many workers. */
  count: number;
  /**
   * Starts worker `id` (from 1) with stdin and stdout piped: stdout carries
   * {@linkcode READY_LINE}, and stdin stays open for the master's life, so
   * its end-of-file tells the worker that the master is gone.
   */
  spawn: (id: number) => Deno.ChildProcess;
  /** A worker that fails sooner than this after its start died "quickly", in ms. @default {2000} */
  minUptimeMs?: number;
  /** This many quick failures in a row of one worker is a crash loop. @default {5} */
  maxQuickDeaths?: number;
  /** First respawn delay, doubled per quick failure, in ms. @default {100} */
  initialBackoffMs?: number;
  /** Longest respawn delay, in ms. @default {5000} */
  maxBackoffMs?: number;
}

/** How the supervisor ended. */
export type SupervisorOutcome = "stopped" | "crash-loop";

interface Slot {
  id: number;
  child: Deno.ChildProcess | undefined;
  stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  startedAt: number;
  quickDeaths: number;
  respawn: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Keeps `count` worker processes running.
 *
 * @example
 * ```ts ignore
 * const supervisor = new WorkerSupervisor({ count: 2, spawn: (id) => startWorker(id) });
 * await supervisor.start(); // every worker said "ready"
 * Deno.addSignalListener("SIGTERM", () => supervisor.stop());
 * const outcome = await supervisor.finished; // "stopped" or "crash-loop"
 * ```
 */
export class WorkerSupervisor {
  readonly #options: Required<WorkerSupervisorOptions>;
  readonly #slots: Slot[];
  readonly #ready = new Set<number>();
  readonly #allReady = Promise.withResolvers<void>();
  readonly #finished = Promise.withResolvers<SupervisorOutcome>();
  readonly #exits = new Set<Promise<void>>();
  #stopping = false;
  #outcome: SupervisorOutcome = "stopped";

  /** Prepares the slots; nothing runs before {@linkcode WorkerSupervisor.start}. */
  constructor(options: WorkerSupervisorOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) {
      throw new RangeError(`Invalid worker count: ${options.count}`);
    }
    this.#options = {
      minUptimeMs: 2000,
      maxQuickDeaths: 5,
      initialBackoffMs: 100,
      maxBackoffMs: 5000,
      ...options,
    };
    this.#slots = Array.from({ length: options.count }, (_, i) => ({
      id: i + 1,
      child: undefined,
      stdin: undefined,
      startedAt: 0,
      quickDeaths: 0,
      respawn: undefined,
    }));
    this.#allReady.promise.catch(() => {});
  }

  /** Resolves how the supervisor ended, once every worker has exited. */
  get finished(): Promise<SupervisorOutcome> {
    return this.#finished.promise;
  }

  /** The pids of the workers running now. */
  get pids(): number[] {
    return this.#slots.flatMap((slot) => slot.child ? [slot.child.pid] : []);
  }

  /**
   * Starts every worker. Resolves once each has been ready once; rejects if
   * the workers crash in a loop before that.
   */
  start(): Promise<void> {
    for (const slot of this.#slots) this.#spawn(slot);
    return this.#allReady.promise;
  }

  /** Sends a signal to every running worker. */
  signal(signal: Deno.Signal): void {
    for (const slot of this.#slots) {
      try {
        slot.child?.kill(signal);
      } catch {
        // Exited meanwhile; its exit handler deals with it.
      }
    }
  }

  /** Stops respawning, sends SIGTERM to every worker, and waits for all to exit. */
  async stop(): Promise<SupervisorOutcome> {
    if (!this.#stopping) {
      this.#stopping = true;
      for (const slot of this.#slots) clearTimeout(slot.respawn);
      this.signal("SIGTERM");
      this.#allReady.reject(new Error("Stopped before every worker was ready"));
      await Promise.allSettled([...this.#exits]);
      this.#finished.resolve(this.#outcome);
    }
    return await this.#finished.promise;
  }

  #spawn(slot: Slot): void {
    slot.respawn = undefined;
    if (this.#stopping) return;
    let child: Deno.ChildProcess;
    try {
      child = this.#options.spawn(slot.id);
    } catch (error) {
      log.error("cannot start worker {id}: {error}", {
        id: slot.id,
        error: String(error),
      });
      this.#crashLoop();
      return;
    }
    slot.child = child;
    slot.startedAt = performance.now();
    // Held open, never written: its end-of-file is the worker's "master is gone".
    slot.stdin = child.stdin.getWriter();
    log.info("worker {id} started (pid {pid})", {
      id: slot.id,
      pid: child.pid,
    });
    void this.#readControl(slot, child);
    const exit = child.status.then((status) =>
      this.#onExit(slot, child, status)
    );
    this.#exits.add(exit);
    exit.finally(() => this.#exits.delete(exit));
  }

  async #readControl(slot: Slot, child: Deno.ChildProcess): Promise<void> {
    let rest = "";
    try {
      for await (const chunk of child.stdout) {
        rest += decoder.decode(chunk, { stream: true });
        let newline;
        while ((newline = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, newline);
          rest = rest.slice(newline + 1);
          if (line === READY_LINE) this.#onReady(slot, child);
        }
      }
    } catch {
      // The worker died; the exit handler reports it.
    }
  }

  #onReady(slot: Slot, child: Deno.ChildProcess): void {
    log.debug("worker {id} (pid {pid}) is ready", {
      id: slot.id,
      pid: child.pid,
    });
    this.#ready.add(slot.id);
    if (this.#ready.size === this.#slots.length) this.#allReady.resolve();
  }

  #onExit(
    slot: Slot,
    child: Deno.ChildProcess,
    status: Deno.CommandStatus,
  ): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    // Close our end of its stdin pipe: releasing the lock alone kept the fd,
    // one per respawn.
    slot.stdin?.close().catch(() => {});
    slot.stdin = undefined;
    const how = status.signal
      ? `signal ${status.signal}`
      : `code ${status.code}`;
    if (this.#stopping) {
      log.info("worker {id} (pid {pid}) exited ({how})", {
        id: slot.id,
        pid: child.pid,
        how,
      });
      return;
    }
    const uptime = performance.now() - slot.startedAt;
    // A clean exit (a worker retiring after --max-connections) is no crash.
    const crashed = !status.success;
    slot.quickDeaths = crashed && uptime < this.#options.minUptimeMs
      ? slot.quickDeaths + 1
      : 0;
    if (slot.quickDeaths >= this.#options.maxQuickDeaths) {
      log.error(
        "worker {id} failed {count} times in a row within {ms} ms of its start: crash loop",
        {
          id: slot.id,
          count: slot.quickDeaths,
          ms: this.#options.minUptimeMs,
        },
      );
      this.#crashLoop();
      return;
    }
    const delay = Math.min(
      this.#options.initialBackoffMs * 2 ** slot.quickDeaths,
      this.#options.maxBackoffMs,
    );
    const level = crashed ? "warn" : "info";
    log[level](
      "worker {id} (pid {pid}) exited ({how}) after {seconds} s; respawning in {delay} ms",
      {
        id: slot.id,
        pid: child.pid,
        how,
        seconds: (uptime / 1000).toFixed(1),
        delay,
      },
    );
    slot.respawn = setTimeout(() => this.#spawn(slot), delay);
  }

  #crashLoop(): void {
    this.#outcome = "crash-loop";
    this.#allReady.reject(new Error("Workers crash in a loop"));
    void this.stop();
  }
}
