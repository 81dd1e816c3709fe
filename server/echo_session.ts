/**
 * Byte-transparent echo: every chunk read is written back as it came, with
 * no prompt and no commands (tcp-echo's service).
 */
import type { ServerConn } from "../net/server_conn.ts";
import type { ConnectionHandler } from "../net/tcp_server.ts";

/** Options of {@linkcode echoSession}. */
export interface EchoSessionOptions {
  /** Read buffer of a new or quiet connection, in bytes. @default {256} */
  minBuffer?: number;
  /** Largest read buffer, reached while a peer streams, in bytes. @default {65536} */
  maxBuffer?: number;
}

/**
 * Builds the echo handler. Each connection's buffer starts small and
 * doubles while reads fill it, then drops back when traffic is light, so
 * 10,000 idle connections hold 2.5 MB of buffers, not 640 MB, while a
 * streaming peer gets 64 KiB reads after eight of them.
 */
export function echoSession(
  options: EchoSessionOptions = {},
): ConnectionHandler {
  const { minBuffer = 256, maxBuffer = 65536 } = options;
  if (!(minBuffer >= 1 && maxBuffer >= minBuffer)) {
    throw new RangeError(`Invalid echo buffers: ${minBuffer} to ${maxBuffer}`);
  }
  return async function echo(conn: ServerConn): Promise<void> {
    // The hot loop talks to Deno's conn directly and keeps the counters itself.
    const raw = conn.conn;
    let buf = new Uint8Array(minBuffer);
    while (!conn.draining) {
      conn.reading = true;
      const n = await raw.read(buf);
      conn.reading = false;
      conn.activity++;
      conn.reads++;
      if (n === null) {
        conn.eof = true;
        return;
      }
      if (conn.writeHook) {
        // Faults bend the writes; copy, since the buffer is read into again.
        await conn.writeAll(buf.slice(0, n));
        continue;
      }
      let offset = 0;
      while (offset < n) offset += await raw.write(buf.subarray(offset, n));
      if (n === buf.length) {
        if (buf.length < maxBuffer) {
          buf = new Uint8Array(Math.min(buf.length * 2, maxBuffer));
        }
      } else if (buf.length > minBuffer && n <= buf.length >> 3) {
        buf = new Uint8Array(minBuffer);
      }
    }
  };
}
