/**
 * Compatibility mode: buggy-tcpserver's own commands, on purpose. Each read
 * of at most 8 bytes is one command, as in the original; a "crash" of the
 * original's per-connection worker becomes a reset of that connection.
 */
import { tcpkitLogger } from "../logging/mod.ts";
import type { ServerConn } from "./server_conn.ts";
import type { ConnectionHandler } from "./tcp_server.ts";

const log = tcpkitLogger("buggy");
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** buggy-tcpserver's port. */
export const BUGGY_PORT = 7777;

/** Options of {@linkcode buggySession}. */
export interface BuggySessionOptions {
  /** `-L` bits; 0x1: never close client sockets (CLOSE_WAIT, and `close` sends no FIN). @default {0} */
  leak?: number;
  /** `--linger`: 0 (the default) resets on every server-side close; negative closes with a FIN. @default {0} */
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

/** Builds the compatibility handler. */
export function buggySession(
  options: BuggySessionOptions = {},
): ConnectionHandler {
  const { leak = 0, linger = 0 } = options;

  async function end(conn: ServerConn, why: string): Promise<void> {
    log.info("connection {id}: {why}", { id: conn.id, why });
    if (leak & 1) {
      // The original's parent kept its copy: no FIN, the socket sits in CLOSE_WAIT.
      conn.busy = true;
      await conn.whenDraining();
      return;
    }
    if (linger >= 0) conn.closeWithReset();
    else conn.close();
  }

  function crash(conn: ServerConn, why: string): void {
    // The original's worker died of SIGABRT: the kernel reset its socket.
    log.warn("connection {id}: abort ({why})", { id: conn.id, why });
    conn.closeWithReset();
  }

  return async function buggy(conn: ServerConn): Promise<void> {
    log.info("connect {port}", { port: conn.conn.remoteAddr.port });
    const buf = new Uint8Array(8);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return await end(conn, "abort?");
      const bytes = buf.slice(0, n);
      const text = decoder.decode(bytes);
      log.info("connection {id} command {command}", {
        id: conn.id,
        command: JSON.stringify(text),
      });
      if (n <= 2) return crash(conn, `read of ${n} bytes`);
      if (text.startsWith("ping")) {
        if (n === 8) return crash(conn, "8-byte ping");
        bytes[1] = 0x6f; // ping -> pong, keeping the tail.
        await conn.writeAll(bytes);
      } else if (n === 8 && text === "aaaaaaaa") {
        const block = new Uint8Array(4096);
        block.set(bytes);
        const more = await conn.read(block.subarray(8));
        if (more !== null && more < 4088) {
          log.info("read({more}) short", { more });
        }
        block.set(encoder.encode("bog (SYN)\0"));
        await conn.writeAll(block);
        await conn.writeAll(block);
      } else if (text.startsWith("big")) {
        if (text.includes("\n")) return crash(conn, "big with a newline");
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
