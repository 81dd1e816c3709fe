/**
 * A telnet-like session: what you type goes to the server, what it sends
 * comes to your terminal, bytes untouched.
 */
import { writeAll } from "../common/mod.ts";

/** Streams of {@linkcode interactive}; the process's own by default. */
export interface InteractiveOptions {
  /** Where typed input comes from. @default {Deno.stdin} */
  input?: { read(p: Uint8Array): Promise<number | null> };
  /** Where server output goes. @default {Deno.stdout} */
  output?: { write(p: Uint8Array): Promise<number> };
}

/**
 * Connects and copies both ways until the server closes. End of input
 * half-closes the connection, so the server still finishes its reply.
 */
export async function interactive(
  hostname: string,
  port: number,
  options: InteractiveOptions = {},
): Promise<void> {
  const { input = Deno.stdin, output = Deno.stdout } = options;
  const conn = await Deno.connect({ hostname, port });
  let serverDone = false;
  const upstream = (async () => {
    const buf = new Uint8Array(16384);
    while (!serverDone) {
      const n = await input.read(buf);
      if (n === null) break;
      await writeAll(conn, buf.subarray(0, n));
    }
    if (!serverDone) await conn.closeWrite();
  })().catch(() => {
    // The server went away while we were writing: downstream reports it.
  });
  try {
    const buf = new Uint8Array(16384);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      await writeAll(output, buf.subarray(0, n));
    }
  } finally {
    serverDone = true;
    conn.close();
  }
  // Input may be a terminal blocked in read(); the caller exits anyway.
  void upstream;
}
