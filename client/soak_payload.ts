/**
 * What `tcpcli soak` sends and how it checks the replies, per mode:
 * - `tcpservd`: a command (getstatus, or hostname with --by-node) after the
 *   `> ` prompt; each reply is a line followed by the next prompt.
 * - `echo`: sequence-numbered lines of 16 bytes (a multiple of 4, so the
 *   seqnum server of `takeover` echoes them whole), checked for loss,
 *   duplication, reordering and corruption.
 * - `line`: any line server: `--send LINE`, each reply line must match
 *   `--expect REGEX`.
 *
 * @module
 */

/** The payload modes. */
export const SOAK_MODES = ["auto", "tcpservd", "echo", "line"] as const;

/** One of {@linkcode SOAK_MODES}. */
export type SoakMode = typeof SOAK_MODES[number];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes of one echo message: `#` + 10 digits + space + 3 letters + LF. */
export const ECHO_LINE_BYTES = 16;

/** The verdict on one reply line. */
export type ReplyVerdict =
  | { kind: "ok"; index: number; node?: string }
  | {
    kind: "wrong";
    why: "unexpected" | "corrupt" | "duplicate" | "reordered";
    index?: number;
  };

/** A payload mode's message encoder and reply checker. */
export interface SoakPayload {
  /** The resolved mode. */
  readonly mode: Exclude<SoakMode, "auto">;
  /** The server greets each connection with the `> ` prompt first. */
  readonly prompted: boolean;
  /** Largest message, in bytes. */
  readonly maxBytes: number;
  /** Writes message `index` at `out[offset]`; returns its length. */
  encode(index: number, out: Uint8Array, offset: number): number;
  /**
   * Judges a reply line (without LF or prompt) to the oldest message still
   * unanswered on its connection, `expected`. Echo replies carry their own
   * index, which may be another one.
   */
  check(line: Uint8Array, expected: number): ReplyVerdict;
}

/** The 3 check letters of echo message `index`. */
function checkLetters(index: number): number {
  return Math.imul(index, 2654435761) >>> 0;
}

/** Sequence-numbered echo lines. */
export class EchoPayload implements SoakPayload {
  readonly mode = "echo" as const;
  readonly prompted = false;
  readonly maxBytes = ECHO_LINE_BYTES;

  /** Writes `#0000000042 abc\n`. */
  encode(index: number, out: Uint8Array, offset: number): number {
    out[offset] = 0x23; // '#'
    let n = index;
    for (let i = 10; i >= 1; i--) {
      out[offset + i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    out[offset + 11] = 0x20;
    let h = checkLetters(index);
    for (let i = 12; i < 15; i++) {
      out[offset + i] = 0x61 + (h % 26);
      h = Math.floor(h / 26);
    }
    out[offset + 15] = 0x0a;
    return ECHO_LINE_BYTES;
  }

  /** Parses the index and checks every byte; only the message checks order. */
  check(line: Uint8Array, expected: number): ReplyVerdict {
    const index = EchoPayload.parse(line);
    if (index === undefined) return { kind: "wrong", why: "corrupt" };
    if (index === expected) return { kind: "ok", index };
    return { kind: "wrong", why: "unexpected", index };
  }

  /** The index of a well-formed echo line (no LF), or undefined if corrupt. */
  static parse(line: Uint8Array): number | undefined {
    if (line.length !== ECHO_LINE_BYTES - 1 || line[0] !== 0x23) {
      return undefined;
    }
    let index = 0;
    for (let i = 1; i <= 10; i++) {
      const d = line[i]! - 0x30;
      if (d < 0 || d > 9) return undefined;
      index = index * 10 + d;
    }
    if (line[11] !== 0x20) return undefined;
    let h = checkLetters(index);
    for (let i = 12; i < 15; i++) {
      if (line[i] !== 0x61 + (h % 26)) return undefined;
      h = Math.floor(h / 26);
    }
    return index;
  }
}

/** A fixed line and a regular expression for its replies. */
export class LinePayload implements SoakPayload {
  readonly mode: "tcpservd" | "line";
  readonly prompted: boolean;
  readonly maxBytes: number;
  readonly #bytes: Uint8Array;
  readonly #expect: RegExp;
  readonly #byNode: boolean;

  /**
   * `send` is the line (without LF); `expect` must match each reply; with
   * `byNode`, its first capture group names the node that answered.
   */
  constructor(
    mode: "tcpservd" | "line",
    send: string,
    expect: RegExp,
    byNode: boolean,
  ) {
    this.mode = mode;
    this.prompted = mode === "tcpservd";
    this.#bytes = encoder.encode(`${send}\n`);
    this.maxBytes = this.#bytes.length;
    this.#expect = expect;
    this.#byNode = byNode;
  }

  /** Writes the line. */
  encode(_index: number, out: Uint8Array, offset: number): number {
    out.set(this.#bytes, offset);
    return this.#bytes.length;
  }

  /** Matches the reply against the expected pattern. */
  check(line: Uint8Array, expected: number): ReplyVerdict {
    let text = decoder.decode(line);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    const match = this.#expect.exec(text);
    if (match === null) return { kind: "wrong", why: "unexpected" };
    if (this.#byNode) {
      return { kind: "ok", index: expected, node: match[1] ?? match[0] };
    }
    return { kind: "ok", index: expected };
  }
}

/** tcpservd's defaults: getstatus, or hostname to tell the nodes apart. */
export function tcpservdPayload(
  byNode: boolean,
  send?: string,
  expect?: RegExp,
): LinePayload {
  if (send !== undefined && expect !== undefined) {
    return new LinePayload("tcpservd", send, expect, byNode);
  }
  return byNode
    ? new LinePayload("tcpservd", "hostname", /^hostname:\[(.*)\]$/, true)
    : new LinePayload("tcpservd", "getstatus", /^(GOOD|BAD)$/, false);
}
