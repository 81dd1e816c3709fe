/**
 * The daemon's command line: splitting it into argv without a shell, the
 * `--shell` form, and the `setpriv --pdeathsig KILL` wrapper that makes the
 * kernel kill a daemon when iotcpd itself dies.
 */

/** The prefix that asks the kernel to SIGKILL the daemon when iotcpd dies. */
export const PARENT_DEATH_WRAPPER: readonly string[] = [
  "setpriv",
  "--pdeathsig",
  "KILL",
  "--",
];

/**
 * Splits a command into words like a POSIX shell, but with no expansion of
 * any kind: blanks separate words, `'…'` keeps everything literally,
 * `"…"` keeps everything but `\"`, `\\`, `\$` and `` \` ``, and a backslash
 * outside quotes keeps the next character. The original split on single
 * spaces only, so an argument could not contain one.
 *
 * @throws {TypeError} on an unterminated quote or a trailing backslash, or
 * when there is no word at all.
 *
 * @example
 * ```ts
 * import { splitCommand } from "./daemon_command.ts";
 * splitCommand(`squidGuard -c "sg/my adblock.conf"`);
 * // ["squidGuard", "-c", "sg/my adblock.conf"]
 * ```
 */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < command.length) {
    const c = command[i]!;
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new TypeError(`Unterminated ' in command: ${command}`);
      word += command.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < command.length && command[i] !== '"') {
        const d = command[i]!;
        const next = command[i + 1];
        if (d === "\\" && next !== undefined && '"\\$`'.includes(next)) {
          word += next;
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      if (i >= command.length) {
        throw new TypeError(`Unterminated " in command: ${command}`);
      }
      inWord = true;
      i++;
    } else if (c === "\\") {
      const next = command[i + 1];
      if (next === undefined) {
        throw new TypeError(`Trailing \\ in command: ${command}`);
      }
      word += next;
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) throw new TypeError("Empty daemon command");
  return words;
}

/**
 * The argv of a daemon: the command split into words, or with `shell`
 * `/bin/sh -c COMMAND` (then prefer `exec prog` in COMMAND, so the daemon is
 * the process iotcpd watches and signals).
 */
export function daemonArgv(
  command: string,
  options: { shell?: boolean } = {},
): string[] {
  if (options.shell) {
    if (command.trim() === "") throw new TypeError("Empty daemon command");
    return ["/bin/sh", "-c", command];
  }
  return splitCommand(command);
}

/**
 * Whether `program` can be started: an executable file when it holds a
 * `/`, else a name found on PATH. Checked before the first spawn because
 * behind the `setpriv` wrapper a missing program is no longer a spawn error,
 * only a daemon that exits with code 127.
 */
export async function programExists(program: string): Promise<boolean> {
  try {
    const check = await new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'case $1 in */*) [ -f "$1" ] && [ -x "$1" ];; *) command -v "$1";; esac',
        "sh",
        program,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return check.success;
  } catch {
    // No /bin/sh to ask: let the spawn itself decide.
    return true;
  }
}

/**
 * Resolves to {@linkcode PARENT_DEATH_WRAPPER} when `setpriv` (util-linux
 * 2.33 or later) can set the parent-death signal here, else to `[]`.
 *
 * PR_SET_PDEATHSIG fires when the *thread* that forked the child exits.
 * Deno forks from its main thread (checked with strace: the clone with
 * CLONE_VFORK or SIGCHLD comes from the thread whose id is the pid), which
 * lives as long as the process, so the signal comes only when iotcpd dies.
 */
export async function parentDeathWrapper(): Promise<string[]> {
  try {
    const probe = await new Deno.Command(PARENT_DEATH_WRAPPER[0]!, {
      args: [...PARENT_DEATH_WRAPPER.slice(1), "true"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return probe.success ? [...PARENT_DEATH_WRAPPER] : [];
  } catch {
    // No setpriv on PATH.
    return [];
  }
}
