/**
 * Fault specs: what `--fault SPEC` and the `fault SPEC` command accept.
 *
 * A spec is a fault name followed by `key=value` settings, separated by
 * spaces or commas: `delay ms=200 jitter=50 p=0.5 seed=7`,
 * `reset,after=100`, `crash code=3`. Every fault also takes `p` (the
 * probability a connection gets it, 0 to 1, default 1), `seed` (makes `p`,
 * jitter and garbage repeat exactly; default random, and logged) and `on`
 * (`new` connections, the default, or only the `current` one).
 */

/**
 * Most faults in force at once, on a server or on one connection: each one
 * is drawn for every new connection, so the list must stay short.
 */
export const MAX_FAULTS = 64;

/** The faults tcpservd can inject. */
export const FAULT_NAMES = [
  "delay",
  "hang",
  "close",
  "reset",
  "halfclose",
  "leak",
  "stall-accept",
  "zero-window",
  "drip",
  "garbage",
  "crash",
] as const;

/** One of {@linkcode FAULT_NAMES}. */
export type FaultName = typeof FAULT_NAMES[number];

/** A parsed, validated fault spec. */
export interface FaultSpec {
  /** Which fault. */
  name: FaultName;
  /** Its own settings (`ms`, `after`, …), as numbers; see {@linkcode FAULT_SETTINGS}. */
  settings: Record<string, number>;
  /** Probability that a connection gets the fault, 0 to 1. */
  p: number;
  /** Seed of the fault's random numbers, if given. */
  seed: number | undefined;
  /** New connections, or only the connection that sent the command. */
  on: "new" | "current";
}

/** A malformed fault spec. */
export class FaultSpecError extends Error {
  /** Creates the error with a message saying what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "FaultSpecError";
  }
}

/** A fault was added to a list that holds {@linkcode MAX_FAULTS} already. */
export class TooManyFaultsError extends Error {
  /** Creates the error naming the limit. */
  constructor() {
    super(`Too many faults (limit ${MAX_FAULTS})`);
    this.name = "TooManyFaultsError";
  }
}

/** How one fault setting is parsed: its default, its bounds, and any words it accepts. */
export interface FaultSetting {
  /** The value when the setting is not given. */
  default: number;
  /** The least value accepted. */
  min: number;
  /** The greatest value accepted. */
  max: number;
  /** Accepts words too, e.g. `reset mid` or `crash abort`. */
  words?: Record<string, number>;
}

const MS = { default: 0, min: 0, max: 3_600_000 };
const BYTES = { default: 0, min: 0, max: 1 << 30 };

/**
 * The settings of each fault, with defaults and bounds.
 * - delay: `ms` before each reply, plus up to `jitter` ms more or less.
 * - close / reset: at once, or `after` N bytes sent; reset also `mid`
 *   (half of the next reply, then the RST).
 * - drip: replies sent `bytes` at a time, `ms` apart.
 * - garbage: `bytes` random bytes, then close.
 * - crash: exit with `code`, or `abort` (SIGABRT).
 * - leak: keep at most `max` sockets in CLOSE_WAIT at once, server-wide;
 *   past that they are closed normally, so the leak cannot fill the
 *   connection table and lock everyone out.
 */
export const FAULT_SETTINGS: Record<FaultName, Record<string, FaultSetting>> = {
  delay: { ms: { ...MS, default: 1000 }, jitter: MS },
  hang: {},
  close: { after: BYTES },
  reset: { after: BYTES, mid: { default: 0, min: 0, max: 1 } },
  halfclose: {},
  leak: { max: { default: 100, min: 1, max: 1 << 20 } },
  "stall-accept": {},
  "zero-window": {},
  drip: {
    bytes: { default: 1, min: 1, max: 1 << 20 },
    ms: { ...MS, default: 100 },
  },
  garbage: { bytes: { default: 64, min: 1, max: 1 << 20 } },
  crash: {
    code: { default: 1, min: 0, max: 255 },
    abort: { default: 0, min: 0, max: 1 },
  },
};

/**
 * Parses a spec such as `delay ms=200 p=0.5 seed=7`. A bare word that is a
 * setting of the fault means `1` (`reset mid`, `crash abort`); a bare
 * number is the fault's first setting (`delay 200`, `crash 3`).
 *
 * @throws {FaultSpecError} for an unknown fault or setting, or a value out of range.
 */
export function parseFaultSpec(text: string): FaultSpec {
  const words = text.trim().split(/[\s,]+/).filter((w) => w !== "");
  const [name, ...rest] = words;
  if (name === undefined) throw new FaultSpecError("Empty fault spec");
  if (!(FAULT_NAMES as readonly string[]).includes(name)) {
    throw new FaultSpecError(
      `Unknown fault "${name}": one of ${FAULT_NAMES.join(", ")}`,
    );
  }
  const fault = name as FaultName;
  const known = FAULT_SETTINGS[fault];
  const settings: Record<string, number> = {};
  for (const [key, setting] of Object.entries(known)) {
    settings[key] = setting.default;
  }
  let p = 1;
  let seed: number | undefined;
  let on: "new" | "current" = "new";
  for (const word of rest) {
    const eq = word.indexOf("=");
    let key = eq < 0 ? word : word.slice(0, eq);
    let value = eq < 0 ? undefined : word.slice(eq + 1);
    if (value === undefined && /^\d+(\.\d+)?$/.test(key)) {
      // A bare number is the first setting: `delay 200`, `crash 3`.
      const first = Object.keys(known)[0];
      if (first === undefined) {
        throw new FaultSpecError(`Fault ${fault} takes no value`);
      }
      value = key;
      key = first;
    }
    if (key === "p") {
      p = number(key, value, 0, 1, false);
    } else if (key === "seed") {
      seed = number(key, value, 0, 2 ** 32 - 1, true);
    } else if (key === "on") {
      if (value !== "new" && value !== "current") {
        throw new FaultSpecError(`Invalid on=${value ?? ""}: new or current`);
      }
      on = value;
    } else if (Object.hasOwn(known, key)) {
      const setting = known[key]!;
      settings[key] = value === undefined
        ? 1
        : number(key, value, setting.min, setting.max, true);
    } else {
      const names = [...Object.keys(known), "p", "seed", "on"].join(", ");
      throw new FaultSpecError(
        `Unknown setting "${key}" for ${fault}: ${names}`,
      );
    }
  }
  if (fault === "stall-accept" && on === "current") {
    throw new FaultSpecError(
      "stall-accept applies to the listener: on=current makes no sense",
    );
  }
  return { name: fault, settings, p, seed, on };
}

function number(
  key: string,
  value: string | undefined,
  min: number,
  max: number,
  integer: boolean,
): number {
  const pattern = integer ? /^\d+$/ : /^\d+(\.\d+)?$|^\.\d+$/;
  if (value === undefined || !pattern.test(value)) {
    throw new FaultSpecError(
      `Invalid ${key}=${value ?? ""}: expected ${
        integer ? "an integer" : "a number"
      }`,
    );
  }
  const n = Number(value);
  if (n < min || n > max) {
    throw new FaultSpecError(
      `Invalid ${key}=${value}: out of range (${min} to ${max})`,
    );
  }
  return n;
}

/** Formats a spec back into its canonical text (for `fault list` and logs). */
export function formatFaultSpec(spec: FaultSpec): string {
  const parts: string[] = [spec.name];
  for (const [key, value] of Object.entries(spec.settings)) {
    parts.push(`${key}=${value}`);
  }
  parts.push(`p=${spec.p}`);
  if (spec.seed !== undefined) parts.push(`seed=${spec.seed}`);
  parts.push(`on=${spec.on}`);
  return parts.join(" ");
}
