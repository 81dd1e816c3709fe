/**
 * IP socket addresses: `struct sockaddr_in`/`sockaddr_in6` ⇄ a plain record,
 * IP literals ⇄ bytes, IPv4-mapped normalisation, and `getsockname()` /
 * `getpeername()` on a raw fd.
 *
 * @module
 */

import { AF_INET, AF_INET6 } from "./constants.ts";
import { EBADF, ENOTCONN, ENOTSOCK, errno, errnoError } from "./errno.ts";
import {
  htons,
  ntohs,
  SOCKADDR_IN,
  SOCKADDR_IN6,
  SOCKADDR_STORAGE,
} from "./layout.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

/** An IP address family. */
export type IpFamily = "ipv4" | "ipv6";

/** An IP address and port, independent of any C struct. */
export interface SocketAddress {
  /** `"ipv4"` (4 address bytes) or `"ipv6"` (16 address bytes). */
  readonly family: IpFamily;
  /** The address bytes in network order: 4 for IPv4, 16 for IPv6. */
  readonly address: Uint8Array;
  /** The port, 0 to 65535, in host byte order. */
  readonly port: number;
}

/**
 * Parses an IP literal to its bytes: IPv4 dotted quad (`127.0.0.1`) or IPv6
 * (`::1`, `fe80::1%eth0`, `[::1]`, `::ffff:127.0.0.1`). Brackets are allowed
 * around IPv6 only; a `%zone` suffix is dropped. IPv4 parts with leading
 * zeros are rejected, since some parsers read them as octal.
 *
 * @example
 * ```ts
 * import { parseIp } from "./sockaddr.ts";
 *
 * parseIp("127.0.0.1"); // Uint8Array(4) [127, 0, 0, 1]
 * parseIp("[::1]").length; // 16
 * ```
 *
 * @param text The literal.
 * @returns 4 bytes for IPv4, 16 bytes for IPv6.
 * @throws {TypeError} When `text` is not an IP literal.
 */
export function parseIp(text: string): Uint8Array {
  if (typeof text !== "string") {
    throw new TypeError(
      `Cannot parse IP address: expected a string, got ${typeof text}`,
    );
  }
  let s = text;
  const bracketed = s.startsWith("[") && s.endsWith("]");
  if (bracketed) s = s.slice(1, -1);
  if (!bracketed) {
    const v4 = parseIpv4(s);
    if (v4 !== null) return v4;
  }
  const percent = s.indexOf("%");
  // Zone ids only mean something to link-local addresses on this host; the
  // bytes, which is what we compare, do not include them.
  if (percent > 0 && percent < s.length - 1) s = s.slice(0, percent);
  const v6 = parseIpv6(s);
  if (v6 !== null) return v6;
  throw new TypeError(`Cannot parse IP address: ${JSON.stringify(text)}`);
}

function parseIpv4(s: string): Uint8Array | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? "";
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    bytes[i] = value;
  }
  return bytes;
}

function parseIpv6(s: string): Uint8Array | null {
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const compressed = halves.length === 2;
  const head = parseGroups(halves[0] ?? "", !compressed);
  const tail = compressed ? parseGroups(halves[1] ?? "", true) : [];
  if (head === null || tail === null) return null;
  const count = head.length + tail.length;
  // "::" stands for at least one zero group.
  if (compressed ? count > 7 : count !== 8) return null;
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  head.forEach((group, i) => view.setUint16(i * 2, group));
  tail.forEach((group, i) => view.setUint16((8 - tail.length + i) * 2, group));
  return bytes;
}

/** Parses "a:b:c" to 16-bit groups; the last may be an IPv4 quad (two groups). */
function parseGroups(s: string, ipv4Allowed: boolean): number[] | null {
  if (s === "") return [];
  const parts = s.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? "";
    if (ipv4Allowed && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      groups.push(
        ((v4[0] ?? 0) << 8) | (v4[1] ?? 0),
        ((v4[2] ?? 0) << 8) | (v4[3] ?? 0),
      );
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return null;
    }
  }
  return groups;
}

/**
 * Formats address bytes as an IP literal: dotted quad for 4 bytes, RFC 5952
 * text for 16 (lower case, the longest run of two or more zero groups as
 * `::`), with IPv4-mapped addresses as `::ffff:a.b.c.d`, as Rust and so Deno
 * print them.
 *
 * @param bytes 4 or 16 address bytes.
 * @returns The literal, without brackets.
 * @throws {TypeError} When `bytes` is not 4 or 16 bytes long.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) {
    throw new TypeError(
      `Cannot format IP address: expected 4 or 16 bytes, got ${bytes.length}`,
    );
  }
  if (isIpv4Mapped(bytes)) return `::ffff:${bytes.subarray(12).join(".")}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (g: number[]) => g.map((group) => group.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${
    hex(groups.slice(bestStart + bestLength))
  }`;
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) {
    return false;
  }
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Maps an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack
 * socket reports for IPv4 peers) to the plain IPv4 address; returns any
 * other address unchanged.
 *
 * @param address The address.
 * @returns The IPv4 form if `address` is IPv4-mapped, else `address` itself.
 */
export function normalizeAddress(address: SocketAddress): SocketAddress {
  if (address.family !== "ipv6" || !isIpv4Mapped(address.address)) {
    return address;
  }
  return {
    family: "ipv4",
    address: address.address.slice(12),
    port: address.port,
  };
}

/**
 * Tells whether two socket addresses are the same once normalised, so
 * `127.0.0.1:80` equals `[::ffff:127.0.0.1]:80`.
 *
 * @param a One address.
 * @param b The other.
 * @returns `true` when family, address bytes and port all match.
 */
export function sameAddress(a: SocketAddress, b: SocketAddress): boolean {
  const x = normalizeAddress(a);
  const y = normalizeAddress(b);
  if (x.family !== y.family || x.port !== y.port) return false;
  if (x.address.length !== y.address.length) return false;
  for (let i = 0; i < x.address.length; i++) {
    if (x.address[i] !== y.address[i]) return false;
  }
  return true;
}

/**
 * Converts a Deno TCP/UDP address (`conn.localAddr`, `listener.addr`) to a
 * {@linkcode SocketAddress}.
 *
 * @param addr A `Deno.NetAddr` whose `hostname` is an IP literal.
 * @returns The address record.
 * @throws {TypeError} When `hostname` is not an IP literal.
 */
export function fromNetAddr(addr: Deno.NetAddr): SocketAddress {
  const address = parseIp(addr.hostname);
  return {
    family: address.length === 4 ? "ipv4" : "ipv6",
    address,
    port: addr.port,
  };
}

/**
 * Encodes an address as `struct sockaddr_in` (16 bytes) or
 * `struct sockaddr_in6` (28 bytes), in an `ArrayBuffer` of its own so it may
 * be passed to libc or pointed at from another struct.
 *
 * @param address The address; its family must match the byte count.
 * @returns The C struct's bytes.
 * @throws {TypeError} When family and address length disagree.
 * @throws {RangeError} When the port is not an integer in 0…65535.
 */
export function encodeSockaddr(address: SocketAddress): Uint8Array {
  const { family, address: bytes, port } = address;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new RangeError(
      `Invalid port: expected an integer from 0 to 65535, got ${port}`,
    );
  }
  if (family === "ipv4" && bytes.length === 4) {
    const out = new Uint8Array(new ArrayBuffer(SOCKADDR_IN.size));
    const view = new DataView(out.buffer);
    view.setUint16(SOCKADDR_IN.family, AF_INET, true);
    view.setUint16(SOCKADDR_IN.port, htons(port), true);
    out.set(bytes, SOCKADDR_IN.addr);
    return out;
  }
  if (family === "ipv6" && bytes.length === 16) {
    const out = new Uint8Array(new ArrayBuffer(SOCKADDR_IN6.size));
    const view = new DataView(out.buffer);
    view.setUint16(SOCKADDR_IN6.family, AF_INET6, true);
    view.setUint16(SOCKADDR_IN6.port, htons(port), true);
    out.set(bytes, SOCKADDR_IN6.addr);
    return out;
  }
  throw new TypeError(
    `Cannot encode sockaddr: family ${
      JSON.stringify(family)
    } with ${bytes.length} address bytes`,
  );
}

/**
 * Decodes a `struct sockaddr_in`/`sockaddr_in6` written by the kernel.
 *
 * @param buffer The struct's bytes.
 * @param length How many bytes are valid (the returned `socklen_t`).
 * @returns The address, or `null` for another family (such as `AF_UNIX`).
 * @throws {RangeError} When `length` is too short for the family it names.
 */
export function decodeSockaddr(
  buffer: Uint8Array,
  length: number = buffer.length,
): SocketAddress | null {
  if (length < 2) return null;
  const view = new DataView(
    buffer.buffer,
    buffer.byteOffset,
    buffer.byteLength,
  );
  const family = view.getUint16(0, true);
  if (family === AF_INET) {
    if (length < SOCKADDR_IN.size) throw shortSockaddr("sockaddr_in", length);
    const address = buffer.slice(SOCKADDR_IN.addr, SOCKADDR_IN.addr + 4);
    return {
      family: "ipv4",
      address,
      port: ntohs(view.getUint16(SOCKADDR_IN.port, true)),
    };
  }
  if (family === AF_INET6) {
    if (length < SOCKADDR_IN6.size) throw shortSockaddr("sockaddr_in6", length);
    const address = buffer.slice(SOCKADDR_IN6.addr, SOCKADDR_IN6.addr + 16);
    return {
      family: "ipv6",
      address,
      port: ntohs(view.getUint16(SOCKADDR_IN6.port, true)),
    };
  }
  return null;
}

function shortSockaddr(struct: string, length: number): RangeError {
  return new RangeError(`Cannot decode ${struct}: only ${length} bytes`);
}

// One scratch buffer for both calls: they are synchronous and copy out.
const scratch = new Uint8Array(new ArrayBuffer(SOCKADDR_STORAGE.size));
const scratchLength = new Uint32Array(1);

/**
 * `getsockname()`: the local address of a raw fd.
 *
 * @param fd A file descriptor.
 * @returns The address, or `null` when `fd` is not open (EBADF), not a
 * socket (ENOTSOCK), or not an IP socket.
 * @throws {ErrnoError} On any other failure.
 */
export function getSockName(fd: number): SocketAddress | null {
  validateFd(fd);
  return readName(fd, "getsockname");
}

/**
 * `getpeername()`: the remote address of a raw fd.
 *
 * @param fd A file descriptor.
 * @returns The address, or `null` when `fd` is not open (EBADF), not a
 * socket (ENOTSOCK), not connected (ENOTCONN), or not an IP socket.
 * @throws {ErrnoError} On any other failure.
 */
export function getPeerName(fd: number): SocketAddress | null {
  validateFd(fd);
  return readName(fd, "getpeername");
}

function readName(
  fd: number,
  syscall: "getsockname" | "getpeername",
): SocketAddress | null {
  scratchLength[0] = scratch.byteLength;
  const rc = libc()[syscall](fd, scratch, scratchLength);
  if (rc < 0) {
    const n = errno();
    if (n === EBADF || n === ENOTSOCK || n === ENOTCONN) return null;
    throw errnoError(n, syscall, `on fd ${fd}`);
  }
  return decodeSockaddr(
    scratch,
    Math.min(scratchLength[0] ?? 0, scratch.byteLength),
  );
}
