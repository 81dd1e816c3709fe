/**
 * A small getopt-style command-line parser.
 *
 * `node:util` `parseArgs` would do, but importing any `node:` module starts
 * Deno's Node compatibility layer, measured at 13–20 ms: a third of the
 * probe's 60 ms start-up budget. This parser has no dependency.
 */
import { UsageError } from "./usage_error.ts";

/** How one option is given. */
export interface OptionSpec {
  /** A flag, or an option with a value. */
  type: "boolean" | "string";
  /** One-letter alias, used as `-x`. */
  short?: string;
  /** A string option that may repeat; values are collected in order. */
  multiple?: boolean;
}

/** The value type of one option spec. */
export type OptionValue<S extends OptionSpec> = S["type"] extends "boolean"
  ? boolean
  : S["multiple"] extends true ? string[]
  : string;

/** What {@linkcode parseCommandLine} returns. */
export interface ParsedCommandLine<T extends Record<string, OptionSpec>> {
  /** Option values by long name; absent when not given. */
  values: { [K in keyof T]?: OptionValue<T[K]> };
  /** The arguments that are not options, in order. */
  positionals: string[];
}

/**
 * Parses arguments the way getopt does: short flags combine (`-dkr`), a
 * short option takes the rest of its word or the next word as its value
 * (`-p9000`, `-p 9000`), long options take `--name=value` or
 * `--name value`, and `--` ends the options.
 *
 * @throws {UsageError} for an unknown option, a missing value, or a value
 * given to a flag.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./command_line.ts";
 * const { values } = parseCommandLine(["-dkp9000"], {
 *   debug: { type: "boolean", short: "d" },
 *   keepalive: { type: "boolean", short: "k" },
 *   port: { type: "string", short: "p" },
 * });
 * // values: { debug: true, keepalive: true, port: "9000" }
 * ```
 */
export function parseCommandLine<T extends Record<string, OptionSpec>>(
  args: readonly string[],
  options: T,
): ParsedCommandLine<T> {
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) {
    if (spec.short !== undefined) byShort.set(spec.short, name);
  }
  const values: Record<string, boolean | string | string[]> = {};
  const positionals: string[] = [];
  const set = (name: string, value: boolean | string) => {
    const spec = options[name]!;
    if (spec.multiple && typeof value === "string") {
      const list = values[name];
      values[name] = Array.isArray(list) ? [...list, value] : [value];
    } else {
      values[name] = value;
    }
  };

  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = Object.hasOwn(options, name) ? options[name] : undefined;
      if (!spec) throw new UsageError(`Unknown option '--${name}'`);
      if (spec.type === "boolean") {
        if (eq >= 0) {
          throw new UsageError(`Option '--${name}' does not take a value`);
        }
        set(name, true);
      } else if (eq >= 0) {
        set(name, arg.slice(eq + 1));
      } else {
        if (i + 1 >= args.length) {
          throw new UsageError(`Option '--${name}' needs a value`);
        }
        set(name, args[++i]!);
      }
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const name = byShort.get(letter);
        if (name === undefined) {
          throw new UsageError(`Unknown option '-${letter}'`);
        }
        if (options[name]!.type === "boolean") {
          set(name, true);
          continue;
        }
        const rest = arg.slice(j + 1);
        if (rest !== "") set(name, rest);
        else if (i + 1 < args.length) set(name, args[++i]!);
        else throw new UsageError(`Option '-${letter}' needs a value`);
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { values: values as ParsedCommandLine<T>["values"], positionals };
}
