/**
 * Line framing over a byte reader, with a hard limit on line length.
 */

/** Anything with Deno's `read(p)` contract, e.g. a `Deno.Conn`. */
export interface ByteReader {
  /** Reads into `p`; resolves to the count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
}

/** One line as received. */
export interface Line {
  /** The bytes of the line, without its terminator. */
  bytes: Uint8Array;
  /** `"\n"`, `"\r\n"`, or `""` for a last line cut by end of stream. */
  terminator: "\n" | "\r\n" | "";
}

/** Options of {@linkcode LineReader}. */
export interface LineReaderOptions {
  /** Longest line accepted, in bytes, terminator excluded. @default {4096} */
  maxLine?: number;
  /** Bytes asked of the reader per read. @default {4096} */
  chunkSize?: number;
}

/** A line longer than the limit arrived. */
export class LineTooLongError extends Error {
  /** The limit that was passed, in bytes. */
  readonly maxLine: number;
  /** Creates the error for a given limit. */
  constructor(maxLine: number) {
    super(`Line too long: more than ${maxLine} bytes`);
    this.name = "LineTooLongError";
    this.maxLine = maxLine;
  }
}

// The first buffer's size; see the constructor.
const INITIAL_SIZE = 256;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines ending in `\n` or `\r\n`. Bytes are never
 * decoded, so NUL bytes and invalid UTF-8 pass through untouched. Memory per
 * reader stays below `maxLine + 2 + chunkSize` bytes whatever the peer sends.
 *
 * @example
 * ```ts
 * import { LineReader } from "./line_reader.ts";
 * const bytes = new TextEncoder().encode("a\r\nb\n");
 * let done = false;
 * const reader = new LineReader({
 *   read(p) {
 *     if (done) return Promise.resolve(null);
 *     p.set(bytes);
 *     done = true;
 *     return Promise.resolve(bytes.length);
 *   },
 * });
 * const first = await reader.readLine(); // bytes "a", terminator "\r\n"
 * ```
 */
export class LineReader {
  #reader: ByteReader;
  #maxLine: number;
  #chunkSize: number;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #scanned = 0;
  #eof = false;
  #busy = false;

  /** Wraps a reader. */
  constructor(reader: ByteReader, options: LineReaderOptions = {}) {
    const { maxLine = 4096, chunkSize = 4096 } = options;
    if (!Number.isInteger(maxLine) || maxLine < 1) {
      throw new RangeError(`Invalid maxLine: ${maxLine}`);
    }
    if (!Number.isInteger(chunkSize) || chunkSize < 1) {
      throw new RangeError(`Invalid chunkSize: ${chunkSize}`);
    }
    this.#reader = reader;
    this.#maxLine = maxLine;
    this.#chunkSize = chunkSize;
    // Small at first: an idle connection holds its buffer in a pending
    // read (4 KiB of 13 per idle tcpservd client); grows on demand.
    this.#buf = new Uint8Array(Math.min(INITIAL_SIZE, chunkSize, maxLine + 2));
  }

  /** Bytes received but not yet returned as a line. */
  buffered(): Uint8Array {
    return this.#buf.slice(this.#start, this.#end);
  }

  /**
   * Resolves to the next line, or `null` at end of stream when nothing is
   * left. A last line without terminator is returned with terminator `""`.
   *
   * @throws {LineTooLongError} once more than `maxLine` bytes arrive without
   * a line end; the reader should not be used after that.
   */
  async readLine(): Promise<Line | null> {
    while (true) {
      const line = this.#takeLine();
      if (line) return line;
      if (this.#eof) {
        if (this.#start === this.#end) return null;
        if (this.#end - this.#start > this.#maxLine) {
          throw new LineTooLongError(this.#maxLine);
        }
        const bytes = this.#buf.slice(this.#start, this.#end);
        this.#start = this.#end = this.#scanned = 0;
        return { bytes, terminator: "" };
      }
      this.#makeRoom();
      const room = this.#buf.length - this.#end;
      const n = await this.#reader.read(this.#buf.subarray(this.#end));
      if (n === null) this.#eof = true;
      else {
        this.#end += n;
        // A full read means more is coming: take chunkSize next time.
        if (n === room) this.#busy = true;
      }
    }
  }

  #takeLine(): Line | null {
    const index = this.#buf.subarray(this.#scanned, this.#end).indexOf(LF);
    if (index < 0) {
      this.#scanned = this.#end;
      // A lone trailing CR may still become CRLF, hence the + 1.
      if (this.#end - this.#start > this.#maxLine + 1) {
        throw new LineTooLongError(this.#maxLine);
      }
      return null;
    }
    const lf = this.#scanned + index;
    const crlf = lf > this.#start && this.#buf[lf - 1] === CR;
    const stop = crlf ? lf - 1 : lf;
    if (stop - this.#start > this.#maxLine) {
      throw new LineTooLongError(this.#maxLine);
    }
    const bytes = this.#buf.slice(this.#start, stop);
    this.#start = this.#scanned = lf + 1;
    if (this.#start === this.#end) this.#start = this.#end = this.#scanned = 0;
    return { bytes, terminator: crlf ? "\r\n" : "\n" };
  }

  #makeRoom(): void {
    if (this.#busy && this.#buf.length < this.#chunkSize) {
      this.#busy = false;
      this.#resize(
        Math.min(this.#chunkSize, this.#maxLine + 2 + this.#chunkSize),
      );
    }
    if (this.#end < this.#buf.length) return;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#scanned -= this.#start;
      this.#start = 0;
      if (this.#end < this.#buf.length) return;
    }
    // Grow up to the limit plus a CRLF; one more byte proves "too long".
    this.#resize(
      Math.min(this.#buf.length * 2, this.#maxLine + 2 + this.#chunkSize),
    );
  }

  #resize(size: number): void {
    if (size <= this.#buf.length) return;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#end));
    this.#buf = next;
  }
}
