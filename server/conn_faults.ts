/**
 * The faults one connection got, and how they bend its reads, writes and
 * close. Every fault applied is logged, so a test run can be explained.
 */
import { tcpkitLogger } from "../logging/mod.ts";
import {
  type FaultSpec,
  formatFaultSpec,
  MAX_FAULTS,
  TooManyFaultsError,
} from "./fault_spec.ts";
import type { SeededRandom } from "./seeded_random.ts";
import type { ServerConn } from "../net/server_conn.ts";

const log = tcpkitLogger("fault");

/** Thrown by a faulty write once the fault has ended the connection. */
export class FaultEndedError extends Error {
  /** Creates the error naming the fault. */
  constructor(fault: string) {
    super(`Connection ended by fault ${fault}`);
    this.name = "FaultEndedError";
  }
}

interface Applied {
  spec: FaultSpec;
  random: SeededRandom;
}

function sleep(ms: number): Promise<void> {
  return ms > 0
    ? new Promise((resolve) => setTimeout(resolve, ms))
    : Promise.resolve();
}

const faultsByConn = new WeakMap<ServerConn, ConnFaults>();

/** The faults a connection got, if any. */
export function faultsOf(conn: ServerConn): ConnFaults | undefined {
  return faultsByConn.get(conn);
}

/**
 * Gives a connection its faults (or takes them away): from then on its
 * writes go through them, by the connection's write hook.
 */
export function setFaultsOf(
  conn: ServerConn,
  faults: ConnFaults | undefined,
): void {
  if (faults === undefined) faultsByConn.delete(conn);
  else faultsByConn.set(conn, faults);
  conn.writeHook = faults;
}

/** The faults of one connection. */
export class ConnFaults {
  readonly #applied: Applied[] = [];
  readonly #onApplied: ((fault: FaultSpec["name"]) => void) | undefined;
  #sent = 0;

  /**
   * Creates an empty set of faults for one connection.
   *
   * @param onApplied Told of each fault when {@linkcode ConnFaults.announce} applies it.
   */
  constructor(onApplied?: (fault: FaultSpec["name"]) => void) {
    this.#onApplied = onApplied;
  }

  /**
   * Adds a fault with the random numbers it draws from.
   *
   * @throws {TooManyFaultsError} When the connection has {@linkcode MAX_FAULTS} already.
   */
  add(spec: FaultSpec, random: SeededRandom): void {
    if (this.#applied.length >= MAX_FAULTS) throw new TooManyFaultsError();
    this.#applied.push({ spec, random });
  }

  #find(name: FaultSpec["name"]): Applied | undefined {
    return this.#applied.find((a) => a.spec.name === name);
  }

  /** True when this connection never replies (`hang`). */
  get hang(): boolean {
    return this.#find("hang") !== undefined;
  }

  /** True when this connection never reads (`zero-window`). */
  get zeroWindow(): boolean {
    return this.#find("zero-window") !== undefined;
  }

  /** True when a peer's close must not be answered by ours (`leak`). */
  get leak(): boolean {
    return this.#find("leak") !== undefined;
  }

  /** The `leak` fault's cap on sockets kept server-wide (0 without `leak`). */
  get leakMax(): number {
    return this.#find("leak")?.spec.settings.max ?? 0;
  }

  #note(conn: ServerConn, applied: Applied, what?: string): void {
    const properties = {
      fault: formatFaultSpec(applied.spec),
      id: conn.id,
      peer: conn.peer,
    };
    if (what === undefined) {
      log.info(
        "fault {fault} applied to connection {id} from {peer}",
        properties,
      );
    } else {
      log.info("fault {fault} applied to connection {id} from {peer}: {what}", {
        ...properties,
        what,
      });
    }
  }

  /** Logs every fault of the connection once, when it opens. */
  announce(conn: ServerConn): void {
    for (const applied of this.#applied) {
      this.#note(conn, applied);
      this.#onApplied?.(applied.spec.name);
    }
  }

  /**
   * Acts on the faults that strike at once: close, reset, garbage, crash,
   * halfclose. Returns false when the connection is over.
   */
  async open(conn: ServerConn): Promise<boolean> {
    for (const applied of this.#applied) {
      const { spec, random } = applied;
      const s = spec.settings;
      switch (spec.name) {
        case "crash":
          log.warn("fault crash: {how}", {
            how: s.abort ? "abort" : `exit ${s.code}`,
          });
          if (s.abort) Deno.kill(Deno.pid, "SIGABRT");
          Deno.exit(s.code ?? 1);
          break;
        case "close":
          if (!s.after) {
            conn.close();
            return false;
          }
          break;
        case "reset":
          if (!s.after && !s.mid) {
            conn.closeWithReset();
            return false;
          }
          break;
        case "garbage":
          await conn.conn.write(random.fill(new Uint8Array(s.bytes ?? 64)))
            .catch(() => 0);
          conn.close();
          return false;
        case "halfclose":
          await conn.conn.closeWrite().catch(() => {});
          break;
      }
    }
    return true;
  }

  /**
   * Writes `bytes` as the faults say: after a delay, in drips, or cut by a
   * close or reset after N bytes or in the middle of a reply.
   *
   * @throws {FaultEndedError} once a fault has closed the connection.
   */
  async write(conn: ServerConn, bytes: Uint8Array): Promise<void> {
    const delay = this.#find("delay");
    if (delay) {
      const { ms = 0, jitter = 0 } = delay.spec.settings;
      const extra = jitter
        ? Math.round((delay.random.next() * 2 - 1) * jitter)
        : 0;
      await sleep(Math.max(0, ms + extra));
    }
    if (this.#find("halfclose") || this.hang) return; // Never send.
    let data = bytes;
    let endWith: "close" | "reset" | undefined;
    for (const name of ["close", "reset"] as const) {
      const cut = this.#find(name);
      if (!cut) continue;
      const { after = 0, mid = 0 } = cut.spec.settings;
      if (after > 0 && this.#sent + data.length >= after) {
        data = data.subarray(0, after - this.#sent);
        endWith = name;
      } else if (
        name === "reset" && mid && conn.reads > 0 && data.length >= 2
      ) {
        data = data.subarray(0, data.length >> 1);
        endWith = "reset";
      }
    }
    const drip = this.#find("drip");
    const step = drip ? drip.spec.settings.bytes ?? 1 : data.length;
    for (let offset = 0; offset < data.length; offset += step) {
      if (drip && offset > 0) await sleep(drip.spec.settings.ms ?? 0);
      const chunk = data.subarray(offset, offset + step);
      let written = 0;
      while (written < chunk.length) {
        written += await conn.conn.write(chunk.subarray(written));
      }
      this.#sent += chunk.length;
      conn.activity++;
    }
    if (endWith) {
      const applied = this.#find(endWith)!;
      this.#note(conn, applied, `${endWith} after ${this.#sent} bytes`);
      if (endWith === "reset") conn.closeWithReset();
      else conn.close();
      throw new FaultEndedError(endWith);
    }
  }
}
