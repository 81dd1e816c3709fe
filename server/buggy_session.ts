/**
 * Compatibility mode: buggy-tcpserver's own commands, on purpose. Each read
 * of at most 8 bytes is one command, as in the original; a "crash" of the
 * original's per-connection worker ends the connection as that worker's
 * exit did: by the `--linger` and `-L` rules, like every other close.
 */
import { tcpkitLogger } from "../logging/mod.ts";
import type { ServerConn } from "../net/server_conn.ts";
import type { ConnectionHandler } from "../net/tcp_server.ts";

const log = tcpkitLogger("buggy");
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** buggy-tcpserver's port. */
export const BUGGY_PORT = 7777;

/** The original's buffer (PIPE_BUF): `big` answers with two blocks this size. */
const BLOCK_SIZE = 4096;
const CR = 0x0d;
const LF = 0x0a;
const LOWER_O = 0x6f;

/** Options of {@linkcode buggySession}. */
export interface BuggySessionOptions {
  /**
   * `-L` bits; 0x1: never close client sockets, crashes included (no FIN:
   * the socket sits in CLOSE_WAIT once the client closes).
   * @default {0}
   */
  leak?: number;
  /**
   * `--linger`: 0 (the default) ends every connection, crashes included,
   * with an RST; any other value with a FIN. The original's positive N
   * (SO_LINGER {1,N}) makes its close wait for unsent data; here the close
   * never blocks, and is a FIN all the same.
   * @default {0}
   */
  linger?: number;
}

/** `atoi`: optional sign and leading digits, else 0. */
function atoi(text: string): number {
  const match = text.match(/^\s*([+-]?\d+)/);
  return match ? Number(match[1]) : 0;
}

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, seconds) * 1000)
  );
}

/**
 * How many line-end bytes the original strips before matching a command:
 * 2 when the byte before last is CR, 1 when the last is LF, else 0.
 */
function lineEndLength(bytes: Uint8Array): number {
  if (bytes[bytes.length - 2] === CR) return 2;
  if (bytes[bytes.length - 1] === LF) return 1;
  return 0;
}

/**
 * One block of the reply to `big`: the command with `i` turned into `o`,
 * then NULs. The original sends its stack garbage after the command's NUL;
 * NULs make the reply the same every time.
 */
function bigBlock(command: Uint8Array): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  block.set(command);
  block[1] = LOWER_O;
  return block;
}

/** Builds the compatibility handler. */
export function buggySession(
  options: BuggySessionOptions = {},
): ConnectionHandler {
  const { leak = 0, linger = 0 } = options;

  /**
   * Ends the session as the original's worker exit did. Logs after acting,
   * so a reader of the log knows the close has happened.
   */
  async function end(conn: ServerConn, why: string): Promise<void> {
    const fields = { id: conn.id, port: conn.conn.remoteAddr.port, why };
    if (leak & 1) {
      // The original's parent kept its copy: no FIN, the socket sits in CLOSE_WAIT.
      conn.busy = true;
      log.info("connection {id} (port {port}) {why}: kept open", fields);
      await conn.whenDraining();
      return;
    }
    // SO_LINGER {1,0} makes the kernel reset; any other linger closes with a FIN.
    if (linger === 0) conn.closeWithReset();
    else conn.close();
    log.info("connection {id} (port {port}) {why}: {how}", {
      ...fields,
      how: linger === 0 ? "RST" : "FIN",
    });
  }

  function crash(conn: ServerConn, why: string): Promise<void> {
    // The original's worker died of SIGABRT; the kernel then closed its
    // socket like any exit, by the same linger and leak rules.
    log.warn("connection {id}: abort ({why})", { id: conn.id, why });
    return end(conn, "worker died");
  }

  return async function buggy(conn: ServerConn): Promise<void> {
    log.info("connect {port}", { port: conn.conn.remoteAddr.port });
    const buf = new Uint8Array(8);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return await end(conn, "abort?");
      const bytes = buf.slice(0, n);
      log.info("connection {id} command {command}", {
        id: conn.id,
        command: JSON.stringify(decoder.decode(bytes)),
      });
      if (n <= 2) return await crash(conn, `read of ${n} bytes`);
      if (n === 8 && decoder.decode(bytes) === "aaaaaaaa") {
        const block = new Uint8Array(4096);
        block.set(bytes);
        const more = await conn.read(block.subarray(8));
        if (more !== null && more < 4088) {
          log.info("read({more}) short", { more });
        }
        block.set(encoder.encode("bog (SYN)\0"));
        await conn.writeAll(block);
        await conn.writeAll(block);
        continue;
      }
      // The original matches on the command cut at its line end.
      const lineEnd = lineEndLength(bytes);
      const text = decoder.decode(bytes.subarray(0, n - lineEnd));
      if (text.startsWith("ping")) {
        if (n === 8) return await crash(conn, "8-byte ping");
        bytes[1] = LOWER_O; // ping -> pong, keeping the tail.
        await conn.writeAll(bytes);
      } else if (text.startsWith("big")) {
        if (lineEnd > 0) return await crash(conn, "big with a line end");
        const block = bigBlock(bytes);
        await conn.writeAll(block);
        await conn.writeAll(block);
      } else if (text.startsWith("close")) {
        return await end(conn, "close 0");
      } else if (text.startsWith("bug")) {
        await sleep(atoi(text.slice(3)));
        return await end(conn, "bug: worker exits");
      } else if (text.startsWith("busy")) {
        const seconds = atoi(text.slice(4));
        await sleep(seconds);
        await conn.writeAll(`${seconds}\n`);
      } else if (text.startsWith("fork")) {
        await conn.writeAll("ok\n");
      }
      // Anything else: no reply, the session stays open.
    }
  };
}
