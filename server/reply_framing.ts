/**
 * How tcpservd cuts its replies on the wire. tcpkit's own framing sends a
 * reply and the next prompt in one write. The original tcpcli (3.0) does
 * one `recv` per step with no timeout (prompt, reply, prompt, quit reply),
 * so it blocks for ever when a reply and the next prompt arrive together.
 * The original framing pads every reply with NULs to 8192 bytes, as the
 * original server pads its own: a client's 8192-byte `recv` (glibc's
 * BUFSIZ) then returns the reply alone, whatever the segments, and the
 * prompt is left for its next `recv`.
 */

/** `"tcpkit"`: reply and prompt together; `"original"`: NUL-padded replies. */
export type ReplyFraming = "tcpkit" | "original";

/** The size the original framing pads each reply to: the original tcpcli's recv buffer. */
export const ORIGINAL_REPLY_SIZE = 8192;

/** The prompt sent on connect and after every reply. */
export const PROMPT = "> ";

const encoder = new TextEncoder();
const PROMPT_BYTES = encoder.encode(PROMPT);

/**
 * Joins a reply's parts (and the prompt, unless `prompt` is false) into
 * one write, padded as `framing` says.
 *
 * @example
 * ```ts
 * import { frameReply } from "./reply_framing.ts";
 * frameReply("tcpkit", ["GOOD\n"]).length; // 7: "GOOD\n> "
 * frameReply("original", ["GOOD\n"]).length; // 8194: 8192 padded, then "> "
 * ```
 */
export function frameReply(
  framing: ReplyFraming,
  parts: readonly (string | Uint8Array)[],
  prompt = true,
): Uint8Array {
  const bytes = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  let body = bytes.reduce((n, b) => n + b.length, 0);
  if (framing === "original") body = Math.max(body, ORIGINAL_REPLY_SIZE);
  // New arrays are zeroed: the padding is NULs.
  const out = new Uint8Array(body + (prompt ? PROMPT_BYTES.length : 0));
  let offset = 0;
  for (const b of bytes) {
    out.set(b, offset);
    offset += b.length;
  }
  if (prompt) out.set(PROMPT_BYTES, body);
  return out;
}

/** Parses `--framing`'s value. */
export function parseReplyFraming(text: string): ReplyFraming | undefined {
  return text === "tcpkit" || text === "original" ? text : undefined;
}
