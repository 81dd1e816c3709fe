/**
 * Address ranges (CIDR) for access rules. IPv4 and IPv6 share one 128-bit
 * space, IPv4 as its mapped form (`::ffff:a.b.c.d`), so `127.0.0.0/8`
 * also matches a client that a dual-stack `::` listener sees as
 * `::ffff:127.0.0.1`.
 */

/** A text that is not an address or a range. */
export class CidrError extends Error {
  /** Creates the error for the text that failed. */
  constructor(text: string, why: string) {
    super(`Invalid address range "${text}": ${why}`);
    this.name = "CidrError";
  }
}

/** One range: the first address (128 bits) and the prefix length (0–128). */
export interface Cidr {
  /** The range as written, for messages. */
  readonly text: string;
  /** The network address in the 128-bit space. */
  readonly base: bigint;
  /** The prefix length in the 128-bit space. */
  readonly bits: number;
}

const MAPPED = 0xffffn << 32n;
const ALL = (1n << 128n) - 1n;

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

function parseIPv6(text: string): bigint | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const words = half.split(":");
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      if (i === words.length - 1 && word.includes(".")) {
        const v4 = parseIPv4(word);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-f]{1,4}$/i.test(word)) {
        out.push(parseInt(word, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  let value = 0n;
  for (const group of [...head, ...new Array(missing).fill(0), ...tail]) {
    value = (value << 16n) | BigInt(group);
  }
  return value;
}

/**
 * An address in the 128-bit space (IPv4 mapped), or `undefined` when the
 * text is not an IP literal. Brackets and a zone (`%eth0`) are ignored.
 */
export function parseIp(text: string): bigint | undefined {
  const bare = text.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const v4 = parseIPv4(bare);
  if (v4 !== undefined) return MAPPED | v4;
  return bare.includes(":") ? parseIPv6(bare) : undefined;
}

/**
 * Parses `ADDR` or `ADDR/BITS` (IPv4 or IPv6).
 *
 * @example
 * ```ts
 * import { cidrContains, parseCidr } from "./cidr.ts";
 * const lan = parseCidr("192.0.2.0/24");
 * cidrContains(lan, "192.0.2.7"); // true
 * cidrContains(lan, "::ffff:192.0.2.7"); // true
 * ```
 *
 * @throws {CidrError} When the text is not an address or the prefix is out of range.
 */
export function parseCidr(text: string): Cidr {
  const [address = "", prefix, extra] = text.trim().split("/");
  if (extra !== undefined) throw new CidrError(text, "more than one /");
  const base = parseIp(address);
  if (base === undefined) throw new CidrError(text, "not an IP address");
  const v4 = parseIPv4(address.replace(/^\[(.*)\]$/, "$1")) !== undefined;
  const width = v4 ? 32 : 128;
  let bits = width;
  if (prefix !== undefined) {
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > width) {
      throw new CidrError(text, `prefix length must be 0 to ${width}`);
    }
    bits = Number(prefix);
  }
  bits += 128 - width;
  const mask = bits === 0 ? 0n : (ALL << BigInt(128 - bits)) & ALL;
  return { text: text.trim(), base: base & mask, bits };
}

/** Parses a comma-separated list of ranges; empty items are an error. */
export function parseCidrList(text: string): Cidr[] {
  return text.split(",").map((item) => {
    if (item.trim() === "") throw new CidrError(text, "empty item");
    return parseCidr(item);
  });
}

/** Whether `address` (an IP literal) lies in `range`; false for anything else. */
export function cidrContains(range: Cidr, address: string): boolean {
  const value = parseIp(address);
  if (value === undefined) return false;
  const shift = BigInt(128 - range.bits);
  return (value >> shift) === (range.base >> shift);
}

/** Loopback: 127.0.0.0/8 and ::1 (IPv4 also as mapped IPv6). */
export const LOOPBACK: readonly Cidr[] = [
  parseCidr("127.0.0.0/8"),
  parseCidr("::1"),
];
