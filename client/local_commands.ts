/**
 * The abusive client's local commands (buggy-tcpserver's client.pl): words
 * that change how tcpcli itself behaves and are never sent to the server.
 *
 * - `passive`: after sending the next line, shut down our write side.
 * - `short`: send each following line one byte per write.
 * - `shut N`: shutdown(2) now, N = 0 (read), 1 (write) or 2 (both).
 * - `linger N`: SO_LINGER {1, N}; with 0, our close sends an RST.
 * - `timeout S`: wait at most S seconds for each reply (0: no limit).
 * - `bye`: close and exit.
 * - `die`: exit at once, without closing (the kernel closes for us).
 */

/** A parsed local command. */
export type LocalCommand =
  | { name: "passive" | "short" | "bye" | "die" }
  | { name: "shut"; how: 0 | 1 | 2 }
  | { name: "linger"; seconds: number }
  | { name: "timeout"; seconds: number };

/** A local word with a bad argument. */
export class LocalCommandError extends Error {
  /** Creates the error with a message saying what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "LocalCommandError";
  }
}

/**
 * Parses a line as a local command; `undefined` when it is to be sent.
 * Accepts the original's spellings (`shutdown`, `lingr`, `tmout`).
 *
 * @throws {LocalCommandError} for a local word with a bad argument.
 */
export function parseLocalCommand(line: string): LocalCommand | undefined {
  const [word = "", arg, extra] = line.trim().split(/\s+/);
  if (extra !== undefined) return undefined;
  const number = (max: number): number => {
    if (arg === undefined || !/^\d+(\.\d+)?$/.test(arg) || Number(arg) > max) {
      throw new LocalCommandError(`${word} needs a number from 0 to ${max}`);
    }
    return Number(arg);
  };
  switch (word.toLowerCase()) {
    case "passive":
    case "short":
    case "bye":
    case "die":
      return arg === undefined
        ? { name: word.toLowerCase() as "passive" }
        : undefined;
    case "shut":
    case "shutdown": {
      const how = number(2);
      if (!Number.isInteger(how)) {
        throw new LocalCommandError("shut needs 0, 1 or 2");
      }
      return { name: "shut", how: how as 0 | 1 | 2 };
    }
    case "linger":
    case "lingr":
      return { name: "linger", seconds: Math.trunc(number(65535)) };
    case "timeout":
    case "tmout":
    case "timout":
      return {
        name: "timeout",
        seconds: arg === undefined ? 5 : number(86400),
      };
    default:
      return undefined;
  }
}

/** shutdown(2) or SO_LINGER on a Deno connection, through the FFI layer. */
export async function applySocketCommand(
  conn: Deno.TcpConn,
  command: Extract<LocalCommand, { name: "shut" | "linger" }>,
): Promise<void> {
  // Loaded only when asked: a plain probe never opens libc.
  const { setLinger, shutdownSocket, socketFdOf } = await import(
    "../ffi/mod.ts"
  );
  const fd = socketFdOf(conn);
  if (command.name === "linger") {
    setLinger(fd, { enabled: true, seconds: command.seconds });
  } else shutdownSocket(fd, command.how);
}

/** Closes with an RST and no FIN (what `linger 0` then a close did in the original). */
export async function closeWithReset(conn: Deno.TcpConn): Promise<void> {
  const ffi = await import("../ffi/mod.ts");
  ffi.closeWithReset(conn);
}
