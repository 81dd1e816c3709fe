/**
 * A client for tcpservd's line protocol: connect, wait for the prompt, send
 * commands, read whole replies. It also speaks to the original tcpservd
 * 1.0, whose prompt is a bare `>`, whose replies to getstatus, setbad and
 * setgood are padded with NULs to 1024 bytes, and which closes the
 * connection right after those replies.
 */
import { writeAll } from "../common/mod.ts";
import { PeerResetError } from "./peer_reset_error.ts";
import { ProtocolError } from "./protocol_error.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const GT = 0x3e;
const NUL = 0x00;
// tcpservd 1.0 sends its padded replies with send(buf, 1024), or BUFSIZ
// bytes for echoes: a NUL-padded reply is never shorter.
const PADDED_REPLY_BYTES = 1024;

/** Options of {@linkcode TcpservdClient.connect}. */
export interface TcpservdClientOptions {
  /** Aborting closes the connection and fails pending calls. */
  signal?: AbortSignal;
  /** Largest reply accepted, in bytes. @default {1048576} */
  maxReply?: number;
}

/** A reply read by {@linkcode TcpservdClient.readReply}. */
export interface TcpservdReply {
  /** The reply's bytes, without the prompt or tcpservd 1.0's NUL padding. */
  reply: Uint8Array;
  /** What ended it: the next prompt, the server's close, or `timeoutMs`. */
  ended: "prompt" | "eof" | "timeout";
  /**
   * The reply was NUL-padded (tcpservd 1.0's getstatus, setbad, setgood and
   * echo); with `ended: "eof"`, that is its normal end of a session.
   */
  padded: boolean;
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

/** Whether `bytes` are one of tcpservd 1.0's NUL-padded replies. */
function isPadded(bytes: Uint8Array): boolean {
  return bytes.length >= PADDED_REPLY_BYTES && bytes[bytes.length - 1] === NUL;
}

/** `bytes` without their trailing NULs. */
function withoutPadding(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === NUL) end--;
  return bytes.subarray(0, end);
}

/**
 * The length of the prompt ending `bytes`, or 0: tcpkit's `> ` or tcpservd
 * 1.0's bare `>`. The greeting is the prompt alone; in a reply the prompt
 * follows a newline, or NUL padding (tcpservd 1.0, or tcpkit's
 * `--framing original`).
 */
function promptLength(bytes: Uint8Array, greeting: boolean): number {
  const n = bytes.length;
  const spaced = bytes[n - 1] === SPACE;
  const gt = spaced ? n - 2 : n - 1;
  if (gt < 0 || bytes[gt] !== GT) return 0;
  if (greeting) return gt === 0 ? n : 0;
  if (bytes[gt - 1] === LF) return n - gt;
  // After padding: tcpservd 1.0's `>`, or tcpkit's `> ` with --framing original.
  return isPadded(bytes.subarray(0, gt)) ? n - gt : 0;
}

/** A command's name for messages: its first line, shown safely. */
function commandName(bytes: Uint8Array): string {
  let end = 0;
  while (end < bytes.length && bytes[end] !== LF && bytes[end] !== CR) end++;
  const name = showBytes(bytes.subarray(0, end), 40).trim();
  return name === "" ? "an empty line" : name;
}

/**
 * One connection to a tcpservd (tcpkit's, or the original 1.0).
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
  #serverClosed = false;
  // After a bare ">": a space that comes next is the rest of a "> " prompt.
  #afterBarePrompt = false;
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
   * Connects and waits for the prompt (`> `, or tcpservd 1.0's `>`).
   *
   * @throws {Deno.errors.ConnectionRefused} and other network errors.
   * @throws {PeerResetError} when the server accepts, then resets.
   * @throws {ProtocolError} when the server greets with something else,
   * e.g. `ERR too many connections`.
   */
  static async connect(
    hostname: string,
    port: number,
    options: TcpservdClientOptions = {},
  ): Promise<TcpservdClient> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({
        hostname,
        port,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      // A refused connect is ECONNREFUSED: a reset means it was accepted.
      if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      throw new PeerResetError("before the prompt", { cause: error });
    }
    const client = new TcpservdClient(conn, options);
    try {
      // Stop at the prompt, or at whatever else a wrong server says first.
      const greeting = await client.#readUntil(
        (b) => promptLength(b, true) > 0 || b.includes(LF) || b.length >= 256,
        "the prompt",
      );
      const prompt = promptLength(greeting, true);
      if (prompt === 0) {
        throw new ProtocolError(
          `Expected the prompt "> " or ">", got "${showBytes(greeting)}"`,
        );
      }
      client.#afterBarePrompt = prompt === 1;
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
   * The server has closed its side: nothing more will come. tcpservd 1.0
   * does so right after its replies to getstatus, setbad and setgood; all
   * that is left is {@linkcode TcpservdClient.close}.
   */
  get serverClosed(): boolean {
    return this.#serverClosed;
  }

  /**
   * Sends one command line and resolves to the reply bytes, without the
   * prompt or tcpservd 1.0's NUL padding. tcpservd 1.0 may close the
   * connection after its reply (see {@linkcode TcpservdClient.serverClosed}).
   * For `quit`, use {@linkcode TcpservdClient.quit}.
   *
   * @throws {PeerResetError} when the server resets the connection.
   * @throws {ProtocolError} when it closes without a whole reply.
   */
  async command(line: string | Uint8Array): Promise<Uint8Array> {
    const bytes = typeof line === "string" ? encoder.encode(`${line}\n`) : line;
    const name = commandName(bytes);
    await this.#write(bytes, name);
    const { reply, ended, padded } = await this.#readReply(
      `the reply to ${name}`,
    );
    if (ended === "eof" && !padded) {
      throw new ProtocolError(
        `Connection closed while waiting for the reply to ${name}; got ${
          reply.length ? `"${showBytes(reply)}"` : "nothing"
        }`,
      );
    }
    return reply;
  }

  /** Like {@linkcode TcpservdClient.command}, decoded, last newline removed. */
  async commandText(line: string): Promise<string> {
    return decoder.decode(await this.command(line)).replace(/\r?\n$/, "");
  }

  /** Sends `quit` and resolves to everything sent until the server closes. */
  async quit(): Promise<Uint8Array> {
    await this.#write(encoder.encode("quit\n"), "quit");
    const rest = await this.#readUntil(() => false, "end of stream", true);
    this.close();
    return rest;
  }

  async #write(bytes: Uint8Array, name: string): Promise<void> {
    try {
      await writeAll(this.#conn, bytes);
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      throw new PeerResetError(`while sending ${name}`, { cause: error });
    }
  }

  async #readUntil(
    done: (bytes: Uint8Array) => boolean,
    what: string,
    untilEof = false,
  ): Promise<Uint8Array> {
    while (!done(this.#buffer)) {
      if ((await this.#fill(what)) === "eof") {
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

  /** Reads up to the next prompt, the end of the stream, or `timeoutMs` without a byte. */
  async #readReply(what: string, timeoutMs?: number): Promise<TcpservdReply> {
    let ended: TcpservdReply["ended"] = "prompt";
    let prompt = promptLength(this.#buffer, false);
    while (prompt === 0) {
      const got = await this.#fill(what, timeoutMs);
      if (got !== "data") {
        ended = got;
        break;
      }
      prompt = promptLength(this.#buffer, false);
    }
    if (prompt === 1) this.#afterBarePrompt = true;
    const bytes = this.#buffer.subarray(0, this.#buffer.length - prompt);
    this.#buffer = new Uint8Array(0);
    const padded = isPadded(bytes);
    return { reply: padded ? withoutPadding(bytes) : bytes, ended, padded };
  }

  /**
   * Reads once more into the buffer. A read cut by `timeoutMs` stays
   * pending and its bytes are kept for the next call: nothing is lost.
   */
  async #fill(
    what: string,
    timeoutMs?: number,
  ): Promise<"data" | "eof" | "timeout"> {
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
      if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      const when = this.#buffer.length
        ? `while reading ${what}; got "${showBytes(this.#buffer)}"`
        : `before ${what}`;
      throw new PeerResetError(when, { cause: error });
    } finally {
      // Not even clearTimeout(undefined): its first call loads Node's timers (~10 ms).
      if (timer !== undefined) clearTimeout(timer);
    }
    this.#pending = undefined;
    if (n === null) {
      this.#serverClosed = true;
      return "eof";
    }
    let chunk = this.#chunk.subarray(0, n);
    if (this.#afterBarePrompt) {
      this.#afterBarePrompt = false;
      if (chunk[0] === SPACE) chunk = chunk.subarray(1);
    }
    const next = new Uint8Array(this.#buffer.length + chunk.length);
    next.set(this.#buffer);
    next.set(chunk, this.#buffer.length);
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

  /**
   * Sends bytes as they are; with `short`, one byte per write.
   *
   * @throws {PeerResetError} when the server resets the connection.
   */
  async send(
    bytes: Uint8Array,
    options: { short?: boolean } = {},
  ): Promise<void> {
    const name = commandName(bytes);
    if (!options.short) return await this.#write(bytes, name);
    for (let i = 0; i < bytes.length; i++) {
      await this.#write(bytes.subarray(i, i + 1), name);
    }
  }

  /**
   * Reads a reply: up to the prompt (removed), the end of the stream, or
   * `timeoutMs` without a byte — whichever comes first; says which.
   * tcpservd 1.0's NUL padding is removed.
   *
   * @throws {PeerResetError} when the server resets the connection.
   */
  readReply(options: { timeoutMs?: number } = {}): Promise<TcpservdReply> {
    return this.#readReply("a reply", options.timeoutMs);
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
