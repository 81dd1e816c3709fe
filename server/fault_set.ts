/**
 * The faults active on a server, and the choice, per new connection, of
 * which of them it gets.
 */
import { tcpkitLogger } from "../logging/mod.ts";
import { ConnFaults } from "./conn_faults.ts";
import {
  type FaultSpec,
  formatFaultSpec,
  MAX_FAULTS,
  TooManyFaultsError,
} from "./fault_spec.ts";
import { SeededRandom } from "./seeded_random.ts";

const log = tcpkitLogger("fault");

/** A fault in force, with its own random numbers. */
export interface ActiveFault {
  /** Number shown by `fault list`, from 1. */
  id: number;
  /** What it does. */
  spec: FaultSpec;
  /** Its random numbers (seeded with `spec.seed` when given). */
  random: SeededRandom;
}

/**
 * The server-wide list of faults. `stall-accept` acts on the listener; the
 * others are drawn per new connection with their probability.
 */
export class FaultSet {
  readonly #faults: ActiveFault[] = [];
  readonly #listeners = new Set<() => void>();
  readonly #appliedListeners = new Set<(fault: FaultSpec["name"]) => void>();
  #nextId = 1;
  #leaked = 0;
  #leakCapLogged = false;
  #cleared = Promise.withResolvers<void>();
  #clears = 0;

  /**
   * Adds a fault for new connections; returns it (with its seed, logged).
   *
   * @throws {TooManyFaultsError} When {@linkcode MAX_FAULTS} are in force.
   */
  add(spec: FaultSpec): ActiveFault {
    if (this.#faults.length >= MAX_FAULTS) throw new TooManyFaultsError();
    const fault = {
      id: this.#nextId++,
      spec,
      random: new SeededRandom(spec.seed),
    };
    this.#faults.push(fault);
    log.info("fault {id} set: {spec} (seed {seed})", {
      id: fault.id,
      spec: formatFaultSpec(spec),
      seed: fault.random.seed,
    });
    this.#changed();
    return fault;
  }

  /** Removes every fault; returns how many there were. */
  clear(): number {
    const count = this.#faults.length;
    this.#faults.length = 0;
    this.#leakCapLogged = false;
    this.#clears++;
    this.#cleared.resolve();
    this.#cleared = Promise.withResolvers<void>();
    if (count > 0) log.info("{count} faults cleared", { count });
    this.#changed();
    return count;
  }

  /** The faults in force, oldest first. */
  list(): readonly ActiveFault[] {
    return this.#faults;
  }

  /**
   * Takes one of `max` places for a leaked socket; false when all are taken
   * (the caller closes normally). The cap is logged once until a clear.
   * Give the place back with {@linkcode FaultSet.releaseLeak}.
   */
  holdLeak(max: number): boolean {
    if (this.#leaked >= max) {
      if (!this.#leakCapLogged) {
        this.#leakCapLogged = true;
        log.warn(
          "leak: cap of {max} leaked sockets reached; closing further ones normally",
          { max },
        );
      }
      return false;
    }
    this.#leaked++;
    return true;
  }

  /** How many clears so far: a connection's faults drawn before the last clear are void. */
  get clears(): number {
    return this.#clears;
  }

  /** Resolves at the next {@linkcode FaultSet.clear}: leaked sockets are closed then. */
  whenCleared(): Promise<void> {
    return this.#cleared.promise;
  }

  /** Gives back a place taken by {@linkcode holdLeak}. */
  releaseLeak(): void {
    this.#leaked--;
  }

  /** True while a `stall-accept` fault is in force. */
  get stallAccept(): boolean {
    return this.#faults.some((f) => f.spec.name === "stall-accept");
  }

  /** Calls `listener` after every change (e.g. to stop or resume accepting). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Draws the faults a new connection gets, each with its probability and
   * in its own random sequence; `undefined` when none (the fast path).
   */
  forNewConnection(): ConnFaults | undefined {
    if (this.#faults.length === 0) return undefined;
    let chosen: ConnFaults | undefined;
    for (const fault of this.#faults) {
      if (fault.spec.name === "stall-accept" || fault.spec.on !== "new") {
        continue;
      }
      if (!fault.random.chance(fault.spec.p)) continue;
      (chosen ??= new ConnFaults((name) => this.noteApplied(name))).add(
        fault.spec,
        fault.random,
      );
    }
    return chosen;
  }

  /** Calls `listener` each time a fault is applied to a connection (metrics). */
  onApplied(listener: (fault: FaultSpec["name"]) => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  /** Reports that a fault was applied to a connection (the caller logs it). */
  noteApplied(fault: FaultSpec["name"]): void {
    for (const listener of this.#appliedListeners) listener(fault);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}
