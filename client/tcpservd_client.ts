/**
 * A client for tcpservd's line protocol: connect, wait for the prompt, send
 * commands, read whole replies.
 */
import { writeAll } from "../common/mod.ts";
import { ProtocolError } from "./protocol_error.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PROMPT = encoder.encode("> ");
const LF = 0x0a;

/** Options of {@linkcode TcpservdClient.connect}. */
export interface TcpservdClientOptions {
  /** Aborting closes the connection and fails pending calls. */
  signal?: AbortSignal;
  /** Largest reply accepted, in bytes. @default {1048576} */
  maxReply?: number;
}

/** Shows bytes for an error message: printable ASCII, every other byte escaped. */
export function showBytes(bytes: Uint8Array, max = 80): string {
  let text = "";
  for (const byte of bytes.subarray(0, max)) {
    if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else if (byte === 0x0a) text += "\\n";
    else if (byte === 0x0d) text += "\\r";
    else text += `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return bytes.length > max ? `${text}…` : text;
}

function endsWithPrompt(bytes: Uint8Array, greeting: boolean): boolean {
  const n = bytes.length;
  if (n < 2 || bytes[n - 2] !== PROMPT[0] || bytes[n - 1] !== PROMPT[1]) {
    return false;
  }
  // A reply always ends in a newline before the prompt; the greeting is the prompt alone.
  return greeting ? n === 2 : n >= 3 && bytes[n - 3] === LF;
}

/**
 * One connection to a tcpservd.
 *
 * @example
 * ```ts ignore
 * import { TcpservdClient } from "@tcpkit/tcpkit/client";
 * await using client = await TcpservdClient.connect("127.0.0.1", 1971);
 * console.log(await client.commandText("getstatus")); // "GOOD"
 * ```
 */
export class TcpservdClient {
  readonly #conn: Deno.TcpConn;
  readonly #maxReply: number;
  #buffer = new Uint8Array(0);
  readonly #chunk = new Uint8Array(16384);
  #pending: Promise<number | null> | undefined;
  #closed = false;
  #onAbort: () => void;
  #signal: AbortSignal | undefined;

  private constructor(conn: Deno.TcpConn, options: TcpservdClientOptions) {
    this.#conn = conn;
    this.#maxReply = options.maxReply ?? 1 << 20;
    this.#signal = options.signal;
    this.#onAbort = () => this.close();
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Connects and waits for the prompt.
   *
   * @throws {Deno.errors.ConnectionRefused} and other network errors.
   * @throws {ProtocolError} when the server greets with something else,
   * e.g. `ERR too many connections`.
   */
  static async connect(
    hostname: string,
    port: number,
    options: TcpservdClientOptions = {},
  ): Promise<TcpservdClient> {
    const conn = await Deno.connect({
      hostname,
      port,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const client = new TcpservdClient(conn, options);
    try {
      // Stop at the prompt, or at whatever else a wrong server says first.
      const greeting = await client.#readUntil(
        (b) => endsWithPrompt(b, true) || b.includes(LF) || b.length >= 256,
        "the prompt",
      );
      if (!endsWithPrompt(greeting, true)) {
        throw new ProtocolError(
          `Expected the prompt "> ", got "${showBytes(greeting)}"`,
        );
      }
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** The local address of the connection. */
  get localAddr(): Deno.NetAddr {
    return this.#conn.localAddr;
  }

  /**
   * Sends one command line and resolves to the reply bytes, prompt removed.
   * For `quit`, use {@linkcode TcpservdClient.quit}.
   */
  async command(line: string | Uint8Array): Promise<Uint8Array> {
    const bytes = typeof line === "string" ? encoder.encode(`${line}\n`) : line;
    await writeAll(this.#conn, bytes);
    const reply = await this.#readUntil(
      (b) => endsWithPrompt(b, false),
      "a reply",
    );
    return reply.subarray(0, reply.length - PROMPT.length);
  }

  /** Like {@linkcode TcpservdClient.command}, decoded, last newline removed. */
  async commandText(line: string): Promise<string> {
    return decoder.decode(await this.command(line)).replace(/\r?\n$/, "");
  }

  /** Sends `quit` and resolves to everything sent until the server closes. */
  async quit(): Promise<Uint8Array> {
    await writeAll(this.#conn, encoder.encode("quit\n"));
    const rest = await this.#readUntil(() => false, "end of stream", true);
    this.close();
    return rest;
  }

  async #readUntil(
    done: (bytes: Uint8Array) => boolean,
    what: string,
    untilEof = false,
  ): Promise<Uint8Array> {
    while (!done(this.#buffer)) {
      if ((await this.#fill()) === "eof") {
        if (untilEof) break;
        const got = this.#buffer.length
          ? `"${showBytes(this.#buffer)}"`
          : "nothing";
        throw new ProtocolError(
          `Connection closed while waiting for ${what}; got ${got}`,
        );
      }
    }
    const result = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return result;
  }

  /**
   * Reads once more into the buffer. A read cut by `timeoutMs` stays
   * pending and its bytes are kept for the next call: nothing is lost.
   */
  async #fill(timeoutMs?: number): Promise<"data" | "eof" | "timeout"> {
    if (this.#signal?.aborted) throw this.#signal.reason;
    this.#pending ??= this.#conn.read(this.#chunk);
    let n: number | null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const result = timeoutMs === undefined
        ? await this.#pending
        : await Promise.race([
          this.#pending,
          new Promise<"timeout">((resolve) =>
            timer = setTimeout(() => resolve("timeout"), timeoutMs)
          ),
        ]);
      if (result === "timeout") return "timeout";
      n = result;
    } catch (error) {
      this.#pending = undefined;
      if (this.#signal?.aborted) throw this.#signal.reason;
      throw error;
    } finally {
      // Not even clearTimeout(undefined): its first call loads Node's timers (~10 ms).
      if (timer !== undefined) clearTimeout(timer);
    }
    this.#pending = undefined;
    if (n === null) return "eof";
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(this.#chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
    if (this.#buffer.length > this.#maxReply) {
      throw new ProtocolError(`Reply longer than ${this.#maxReply} bytes`);
    }
    return "data";
  }

  /** The connection itself, e.g. for socket options or a half-close. */
  get socket(): Deno.TcpConn {
    return this.#conn;
  }

  /** Sends bytes as they are; with `short`, one byte per write. */
  async send(
    bytes: Uint8Array,
    options: { short?: boolean } = {},
  ): Promise<void> {
    if (!options.short) return await writeAll(this.#conn, bytes);
    for (let i = 0; i < bytes.length; i++) {
      await writeAll(this.#conn, bytes.subarray(i, i + 1));
    }
  }

  /**
   * Reads a reply: up to the prompt (removed), the end of the stream, or
   * `timeoutMs` without a byte — whichever comes first; says which.
   */
  async readReply(
    options: { timeoutMs?: number } = {},
  ): Promise<{ reply: Uint8Array; ended: "prompt" | "eof" | "timeout" }> {
    let ended: "prompt" | "eof" | "timeout" = "prompt";
    while (!endsWithPrompt(this.#buffer, false)) {
      const got = await this.#fill(options.timeoutMs);
      if (got !== "data") {
        ended = got;
        break;
      }
    }
    const reply = ended === "prompt"
      ? this.#buffer.subarray(0, this.#buffer.length - PROMPT.length)
      : this.#buffer;
    this.#buffer = new Uint8Array(0);
    return { reply, ended };
  }

  /** Closes the connection. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Same as {@linkcode TcpservdClient.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
