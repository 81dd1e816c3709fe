/**
 * A telnet-like session: typed lines go to the server, what it sends comes
 * to the terminal untouched. Lines that are local commands (`linger 0`,
 * `shut 1`, `die`…, see `local_commands.ts`) act on tcpcli's own socket
 * instead, for playing the abusive client.
 */
import { type ByteReader, LineReader, writeAll } from "../common/mod.ts";
import {
  applySocketCommand,
  closeWithReset,
  parseLocalCommand,
} from "./local_commands.ts";

/** Streams of {@linkcode interactive}; the process's own by default. */
export interface InteractiveOptions {
  /** Where typed input comes from. @default {Deno.stdin} */
  input?: ByteReader;
  /** Where server output goes. @default {Deno.stdout} */
  output?: { write(p: Uint8Array): Promise<number> };
  /**
   * Where tcpcli's own notes go (`timeout!`, errors); written synchronously,
   * so a note is out before the process exits. @default {Deno.stderr}
   */
  notes?: { writeSync(p: Uint8Array): number };
}

/** How an interactive session ended. */
export type InteractiveEnd = "closed" | "bye" | "timeout";

const encoder = new TextEncoder();
// How long piped input waits for a greeting, and for each reply, in ms.
const GREETING_WAIT_MS = 500;
const REPLY_WAIT_MS = 5000;

/**
 * Connects and relays until the server closes, `bye`, or a `timeout S`
 * passes with no reply. End of input half-closes the connection, so the
 * server still finishes its reply. `die` exits the process at once.
 */
export async function interactive(
  hostname: string,
  port: number,
  options: InteractiveOptions = {},
): Promise<InteractiveEnd> {
  const { input = Deno.stdin, output = Deno.stdout, notes = Deno.stderr } =
    options;
  const conn = await Deno.connect({ hostname, port });
  const note = (text: string) => {
    try {
      notes.writeSync(encoder.encode(text));
    } catch {
      // Nowhere to say it.
    }
  };
  let ended: InteractiveEnd | undefined;
  let replyTimer: ReturnType<typeof setTimeout> | undefined;
  let replyTimeoutMs = 0;
  let lingerZero = false;
  // Set after a line is sent, cleared by the next bytes from the server.
  let awaitingReply: PromiseWithResolvers<void> | undefined;
  // Piped input arrives all at once: before the next line goes out or a
  // local word acts, let the reply to the line before it come in, as a
  // person typing would.
  const settle = async () => {
    if (awaitingReply === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      awaitingReply.promise,
      new Promise<void>((resolve) =>
        timer = setTimeout(resolve, replyTimeoutMs || REPLY_WAIT_MS)
      ),
    ]);
    clearTimeout(timer);
  };
  const finish = (why: InteractiveEnd) => {
    if (ended !== undefined) return;
    ended = why;
    clearTimeout(replyTimer);
    awaitingReply?.resolve();
    try {
      // After `linger 0`, close as the original client did: an RST, no FIN.
      if (lingerZero && why === "bye") closeWithReset(conn);
      else conn.close();
    } catch {
      // Already closed.
    }
  };

  // A server may greet first (tcpservd's prompt): give it a moment.
  const greetingWait = Promise.withResolvers<void>();
  awaitingReply = greetingWait;
  const greeting = setTimeout(() => greetingWait.resolve(), GREETING_WAIT_MS);
  const upstream = (async () => {
    const lines = new LineReader(input, { maxLine: 1 << 20 });
    let passive = false;
    let short = false;
    while (ended === undefined) {
      const line = await lines.readLine();
      if (line === null) break;
      const text = new TextDecoder().decode(line.bytes);
      const local = parseLocalCommand(text);
      if (local !== undefined) {
        await settle();
        switch (local.name) {
          case "passive":
            passive = true;
            break;
          case "short":
            short = true;
            break;
          case "timeout":
            replyTimeoutMs = local.seconds * 1000;
            break;
          case "shut":
          case "linger":
            await applySocketCommand(conn, local);
            if (local.name === "linger") lingerZero = local.seconds === 0;
            break;
          case "bye":
            finish("bye");
            return;
          case "die":
            // Leave without close(): the kernel tears the socket down.
            Deno.exit(0);
        }
        continue;
      }
      await settle();
      const bytes = new Uint8Array([...line.bytes, 0x0a]);
      if (short) {
        for (let i = 0; i < bytes.length; i++) {
          await writeAll(conn, bytes.subarray(i, i + 1));
        }
      } else {
        await writeAll(conn, bytes);
      }
      awaitingReply = Promise.withResolvers<void>();
      if (passive) {
        await conn.closeWrite();
        passive = false;
      }
      if (replyTimeoutMs > 0 && replyTimer === undefined) {
        replyTimer = setTimeout(() => {
          note("timeout!\n");
          finish("timeout");
        }, replyTimeoutMs);
      }
    }
    if (ended === undefined) await conn.closeWrite();
  })().catch((error) => {
    if (ended !== undefined) return;
    const message = error instanceof Error ? error.message : String(error);
    note(`tcpcli: ${message}\n`);
  });

  try {
    const buf = new Uint8Array(16384);
    while (ended === undefined) {
      const n = await conn.read(buf);
      if (n === null) break;
      clearTimeout(replyTimer);
      replyTimer = undefined;
      await writeAll(output, buf.subarray(0, n));
      awaitingReply?.resolve();
      awaitingReply = undefined;
    }
  } catch (error) {
    if (ended === undefined) throw error;
  } finally {
    clearTimeout(greeting);
    finish("closed");
  }
  // Input may be a terminal blocked in read(); the caller exits anyway.
  void upstream;
  return ended ?? "closed";
}
