/**
 * What an fd really is — not a socket, or a socket of which domain, type and
 * protocol, listening or not — for fds that came from another process and
 * must not be taken on trust (`SO_DOMAIN`, `SO_TYPE`, `SO_PROTOCOL`,
 * `SO_ACCEPTCONN`).
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  IPPROTO_TCP,
  SO_ACCEPTCONN,
  SO_DOMAIN,
  SO_PROTOCOL,
  SO_TYPE,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./constants.ts";
import { ENOTSOCK, errno, errnoError } from "./errno.ts";
import { libc } from "./libc.ts";
import { validateFd } from "./_validate.ts";

const IPPROTO_UDP = 17;

/** A socket's kind, as the kernel reports it. */
export interface SocketKind {
  /** `SO_DOMAIN`: `AF_INET`, `AF_INET6`, `AF_UNIX`… */
  readonly domain: number;
  /** `SO_TYPE`: `SOCK_STREAM`, `SOCK_DGRAM`… */
  readonly type: number;
  /** `SO_PROTOCOL`: `IPPROTO_TCP`, `IPPROTO_UDP`, 0 for Unix sockets… */
  readonly protocol: number;
  /** `SO_ACCEPTCONN`: whether it is listening. */
  readonly listening: boolean;
}

// Scratch out-parameters, reused: the calls are synchronous.
const value = new Int32Array(1);
const length = new Uint32Array(1);

/**
 * Reads the kind of every fd, in order: four `getsockopt()` calls each, no
 * allocation per fd (a handover checks every connection while clients wait).
 *
 * @param fds Open fds.
 * @returns Each fd's kind, or `null` for an fd that is not a socket (a pipe,
 * a file).
 * @throws {ErrnoError} When an fd is not open (EBADF), or another call fails.
 */
export function socketKinds(fds: readonly number[]): (SocketKind | null)[] {
  const c = libc();
  const kinds = new Array<SocketKind | null>(fds.length);
  const read = (fd: number, option: number, name: string): number | null => {
    length[0] = 4;
    if (c.getsockopt(fd, SOL_SOCKET, option, value, length) === 0) {
      return value[0]!;
    }
    const n = errno();
    if (n === ENOTSOCK) return null;
    throw errnoError(n, "getsockopt", `${name} on fd ${fd}`);
  };
  for (let i = 0; i < fds.length; i++) {
    const fd = fds[i]!;
    validateFd(fd);
    const domain = read(fd, SO_DOMAIN, "SO_DOMAIN");
    if (domain === null) {
      kinds[i] = null;
      continue;
    }
    kinds[i] = {
      domain,
      type: read(fd, SO_TYPE, "SO_TYPE") ?? -1,
      protocol: read(fd, SO_PROTOCOL, "SO_PROTOCOL") ?? -1,
      listening: read(fd, SO_ACCEPTCONN, "SO_ACCEPTCONN") === 1,
    };
  }
  return kinds;
}

/**
 * Whether a kind is a TCP socket over IPv4 or IPv6.
 *
 * @param kind What {@linkcode socketKinds} returned.
 * @returns `true` for `AF_INET`/`AF_INET6`, `SOCK_STREAM`, `IPPROTO_TCP`.
 */
export function isTcp(kind: SocketKind | null): kind is SocketKind {
  return kind !== null &&
    (kind.domain === AF_INET || kind.domain === AF_INET6) &&
    kind.type === SOCK_STREAM && kind.protocol === IPPROTO_TCP;
}

const DOMAINS: ReadonlyMap<number, string> = new Map([
  [AF_INET, "IPv4"],
  [AF_INET6, "IPv6"],
  [AF_UNIX, "Unix"],
]);

/**
 * Describes a kind in words for messages: "not a socket", "a listening TCP
 * socket (IPv4)", "a UDP socket (IPv6)", "a Unix stream socket", "a socket
 * of domain 16, type 3, protocol 0".
 *
 * @param kind What {@linkcode socketKinds} returned.
 * @returns The description.
 */
export function formatSocketKind(kind: SocketKind | null): string {
  if (kind === null) return "not a socket";
  const domain = DOMAINS.get(kind.domain);
  const state = kind.listening ? "listening " : "";
  if (domain === undefined) {
    return `a ${state}socket of domain ${kind.domain}, type ${kind.type}, protocol ${kind.protocol}`;
  }
  if (kind.domain === AF_UNIX) {
    const type = kind.type === SOCK_STREAM
      ? "stream"
      : kind.type === SOCK_DGRAM
      ? "datagram"
      : `type ${kind.type}`;
    return `a ${state}Unix ${type} socket`;
  }
  const protocol = kind.type === SOCK_STREAM && kind.protocol === IPPROTO_TCP
    ? "TCP"
    : kind.type === SOCK_DGRAM && kind.protocol === IPPROTO_UDP
    ? "UDP"
    : `type ${kind.type}, protocol ${kind.protocol}`;
  return protocol.startsWith("type")
    ? `a ${state}${domain} socket of ${protocol}`
    : `a ${state}${protocol} socket (${domain})`;
}
