/**
 * A telnet-like session: typed lines go to the server, what it sends comes
 * to the terminal untouched. Lines that are local commands (`linger 0`,
 * `shut 1`, `die`…, see `local_commands.ts`) act on tcpcli's own socket
 * instead, for playing the abusive client.
 */
import {
  type ByteReader,
  errorMessage,
  LineReader,
  writeAll,
} from "../common/mod.ts";
import {
  applySocketCommand,
  closeWithReset,
  type LocalCommand,
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
  const session = new Session(conn, notes);
  const greeting = session.awaitGreeting();
  const upstream = session.sendInput(input);
  try {
    await session.relayOutput(output);
  } catch (error) {
    if (session.ended === undefined) throw error;
  } finally {
    clearTimeout(greeting);
    session.finish("closed");
  }
  // Input may be a terminal blocked in read(); the caller exits anyway.
  void upstream;
  return session.ended ?? "closed";
}

/** What the two directions of one session share. */
class Session {
  readonly #conn: Deno.TcpConn;
  readonly #notes: { writeSync(p: Uint8Array): number };
  #ended: InteractiveEnd | undefined;
  #replyTimer: ReturnType<typeof setTimeout> | undefined;
  #replyTimeoutMs = 0;
  #lingerZero = false;
  // Set after a line is sent, cleared by the next bytes from the server.
  #awaitingReply: PromiseWithResolvers<void> | undefined;
  // Set by the local words `passive` and `short`, for the next lines.
  #passive = false;
  #short = false;

  constructor(
    conn: Deno.TcpConn,
    notes: { writeSync(p: Uint8Array): number },
  ) {
    this.#conn = conn;
    this.#notes = notes;
  }

  /** How the session ended; `undefined` while it runs. */
  get ended(): InteractiveEnd | undefined {
    return this.#ended;
  }

  /**
   * A server may greet first (tcpservd's prompt): the first line waits a
   * moment for it.
   *
   * @returns The timer that ends the wait, to clear at the end.
   */
  awaitGreeting(): ReturnType<typeof setTimeout> {
    const greetingWait = Promise.withResolvers<void>();
    this.#awaitingReply = greetingWait;
    return setTimeout(() => greetingWait.resolve(), GREETING_WAIT_MS);
  }

  /**
   * Sends typed lines, or acts on local words, until the end of input
   * (then half-closes) or the end of the session. A failure is noted, not
   * thrown.
   */
  async sendInput(input: ByteReader): Promise<void> {
    try {
      const lines = new LineReader(input, { maxLine: 1 << 20 });
      while (this.#ended === undefined) {
        const line = await lines.readLine();
        if (line === null) break;
        const text = new TextDecoder().decode(line.bytes);
        const local = parseLocalCommand(text);
        await this.#settle();
        if (local === undefined) {
          await this.#sendLine(new Uint8Array([...line.bytes, 0x0a]));
        } else if (await this.#applyLocal(local) === "bye") {
          return;
        }
      }
      if (this.#ended === undefined) await this.#conn.closeWrite();
    } catch (error) {
      if (this.#ended !== undefined) return;
      const message = errorMessage(error);
      this.#note(`tcpcli: ${message}\n`);
    }
  }

  /** Copies what the server sends to `output` until it closes or we end. */
  async relayOutput(output: {
    write(p: Uint8Array): Promise<number>;
  }): Promise<void> {
    const buf = new Uint8Array(16384);
    while (this.#ended === undefined) {
      const n = await this.#conn.read(buf);
      if (n === null) break;
      clearTimeout(this.#replyTimer);
      this.#replyTimer = undefined;
      await writeAll(output, buf.subarray(0, n));
      this.#awaitingReply?.resolve();
      this.#awaitingReply = undefined;
    }
  }

  /** Ends the session once (later calls do nothing) and closes the socket. */
  finish(why: InteractiveEnd): void {
    if (this.#ended !== undefined) return;
    this.#ended = why;
    clearTimeout(this.#replyTimer);
    this.#awaitingReply?.resolve();
    try {
      // After `linger 0`, close as the original client did: an RST, no FIN.
      if (this.#lingerZero && why === "bye") closeWithReset(this.#conn);
      else this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Acts on a local word; `"bye"` when the session is over. */
  async #applyLocal(local: LocalCommand): Promise<"bye" | undefined> {
    switch (local.name) {
      case "passive":
        this.#passive = true;
        break;
      case "short":
        this.#short = true;
        break;
      case "timeout":
        this.#replyTimeoutMs = local.seconds * 1000;
        break;
      case "shut":
      case "linger":
        await applySocketCommand(this.#conn, local);
        if (local.name === "linger") this.#lingerZero = local.seconds === 0;
        break;
      case "bye":
        this.finish("bye");
        return "bye";
      case "die":
        // Leave without close(): the kernel tears the socket down.
        Deno.exit(0);
    }
    return undefined;
  }

  /**
   * Sends one line (byte by byte after `short`), half-closes after it
   * after `passive`, and starts the reply timeout if one is set.
   */
  async #sendLine(bytes: Uint8Array): Promise<void> {
    if (this.#short) {
      for (let i = 0; i < bytes.length; i++) {
        await writeAll(this.#conn, bytes.subarray(i, i + 1));
      }
    } else {
      await writeAll(this.#conn, bytes);
    }
    this.#awaitingReply = Promise.withResolvers<void>();
    if (this.#passive) {
      await this.#conn.closeWrite();
      this.#passive = false;
    }
    if (this.#replyTimeoutMs > 0 && this.#replyTimer === undefined) {
      this.#replyTimer = setTimeout(() => {
        this.#note("timeout!\n");
        this.finish("timeout");
      }, this.#replyTimeoutMs);
    }
  }

  /**
   * Piped input arrives all at once: before the next line goes out or a
   * local word acts, let the reply to the line before it come in, as a
   * person typing would.
   */
  async #settle(): Promise<void> {
    if (this.#awaitingReply === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#awaitingReply.promise,
      new Promise<void>((resolve) =>
        timer = setTimeout(resolve, this.#replyTimeoutMs || REPLY_WAIT_MS)
      ),
    ]);
    clearTimeout(timer);
  }

  #note(text: string): void {
    try {
      this.#notes.writeSync(encoder.encode(text));
    } catch {
      // Nowhere to say it.
    }
  }
}
