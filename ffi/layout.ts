/**
 * Sizes and byte offsets of the C structs tcpkit passes to libc, per
 * architecture (Linux glibc, LP64: x86_64 and aarch64), plus the one
 * network-byte-order helper.
 *
 * The two architectures agree on every struct here except
 * `struct epoll_event`, which glibc packs to 12 bytes on x86_64 only.
 * `layout_test.ts` checks these numbers against the C compiler when `cc` is
 * installed.
 *
 * @module
 */

/** The architectures whose layouts are known: those of `Deno.build.arch`. */
export type Arch = "x86_64" | "aarch64";

/** `struct sockaddr_in` (16 bytes): family u16 @0, port u16 BE @2, addr 4 bytes @4. */
export const SOCKADDR_IN = {
  size: 16,
  family: 0,
  port: 2,
  addr: 4,
} as const;

/**
 * `struct sockaddr_in6` (28 bytes): family u16 @0, port u16 BE @2,
 * flowinfo u32 @4, addr 16 bytes @8, scope_id u32 @24.
 */
export const SOCKADDR_IN6 = {
  size: 28,
  family: 0,
  port: 2,
  flowinfo: 4,
  addr: 8,
  scopeId: 24,
} as const;

/** `struct sockaddr_storage` (128 bytes): big enough for any address; family u16 @0. */
export const SOCKADDR_STORAGE = {
  size: 128,
  family: 0,
} as const;

/**
 * `struct servent` (32 bytes): s_name ptr @0, s_aliases ptr @8, s_port int @16
 * (the port in network byte order in its low 16 bits), s_proto ptr @24.
 */
export const SERVENT = {
  size: 32,
  name: 0,
  aliases: 8,
  port: 16,
  proto: 24,
} as const;

/** `struct linger` (8 bytes): l_onoff int @0, l_linger int @4 (seconds). */
export const LINGER = {
  size: 8,
  onoff: 0,
  linger: 4,
} as const;

/**
 * `struct msghdr` (56 bytes): msg_name ptr @0, msg_namelen u32 @8,
 * msg_iov ptr @16, msg_iovlen size_t @24, msg_control ptr @32,
 * msg_controllen size_t @40, msg_flags int @48.
 */
export const MSGHDR = {
  size: 56,
  name: 0,
  namelen: 8,
  iov: 16,
  iovlen: 24,
  control: 32,
  controllen: 40,
  flags: 48,
} as const;

/** `struct iovec` (16 bytes): iov_base ptr @0, iov_len size_t @8. */
export const IOVEC = {
  size: 16,
  base: 0,
  len: 8,
} as const;

/**
 * `struct cmsghdr` (16-byte header): cmsg_len size_t @0, cmsg_level int @8,
 * cmsg_type int @12; the data (`CMSG_DATA`) starts at 16.
 */
export const CMSGHDR = {
  size: 16,
  len: 0,
  level: 8,
  type: 12,
  data: 16,
} as const;

/** `struct rlimit` (16 bytes): rlim_cur u64 @0, rlim_max u64 @8. */
export const RLIMIT = {
  size: 16,
  cur: 0,
  max: 8,
} as const;

/** `struct ucred` (12 bytes): pid i32 @0, uid u32 @4, gid u32 @8. */
export const UCRED = {
  size: 12,
  pid: 0,
  uid: 4,
  gid: 8,
} as const;

/**
 * `struct sockaddr_un` (110 bytes): family u16 @0, sun_path char[108] @2.
 * A path takes at most 107 bytes, plus its NUL.
 */
export const SOCKADDR_UN = {
  size: 110,
  family: 0,
  path: 2,
  pathMax: 108,
} as const;

/**
 * `struct linux_dirent64`, one record of `getdents64()` (variable length):
 * ino u64 @0, off s64 @8, reclen u16 @16 (the record's full length, the
 * step to the next one), type u8 @18, NUL-terminated name @19. glibc's
 * `struct dirent64` has the same layout, which is what the test compiles.
 */
export const LINUX_DIRENT64 = {
  ino: 0,
  off: 8,
  reclen: 16,
  type: 18,
  name: 19,
} as const;

/** The shape of {@linkcode EPOLL_EVENT}: the one struct whose layout depends on the arch. */
export interface EpollEventLayout {
  /** Size of one `struct epoll_event` in bytes (the array stride). */
  readonly size: number;
  /** Offset of `uint32_t events`. */
  readonly events: number;
  /** Offset of `epoll_data_t data` (a u64 union). */
  readonly data: number;
}

/** `struct epoll_event` per arch: packed (12 bytes, data @4) on x86_64 only. */
export const EPOLL_EVENT_BY_ARCH: Readonly<Record<Arch, EpollEventLayout>> =
  Object.freeze({
    x86_64: Object.freeze({ size: 12, events: 0, data: 4 }),
    aarch64: Object.freeze({ size: 16, events: 0, data: 8 }),
  });

/** `struct epoll_event` for the running arch. */
export const EPOLL_EVENT: EpollEventLayout =
  EPOLL_EVENT_BY_ARCH[Deno.build.arch];

/** Alignment of control messages: `sizeof(size_t)`. */
const CMSG_ALIGN_BYTES = 8;

/**
 * `CMSG_ALIGN(len)`: rounds a length up to the control-message alignment.
 *
 * @param len A length in bytes.
 * @returns The aligned length.
 */
export function cmsgAlign(len: number): number {
  return Math.ceil(len / CMSG_ALIGN_BYTES) * CMSG_ALIGN_BYTES;
}

/**
 * `CMSG_SPACE(len)`: bytes a control message with `len` data bytes takes in
 * the control buffer, padding included (`cmsgSpace(4)` is 24).
 *
 * @param len Data bytes, such as `4 * fds.length` for SCM_RIGHTS.
 * @returns The buffer space in bytes.
 */
export function cmsgSpace(len: number): number {
  return cmsgAlign(CMSGHDR.size) + cmsgAlign(len);
}

/**
 * `CMSG_LEN(len)`: the value for `cmsg_len` of a message with `len` data
 * bytes (`cmsgLen(4)` is 20).
 *
 * @param len Data bytes.
 * @returns The header plus data length in bytes, without trailing padding.
 */
export function cmsgLen(len: number): number {
  return cmsgAlign(CMSGHDR.size) + len;
}

/**
 * Converts a 16-bit value between host and network byte order (both ways:
 * the swap is its own inverse). Both supported arches are little-endian.
 *
 * @param value A 16-bit unsigned value.
 * @returns The value with its two bytes swapped.
 */
export function htons(value: number): number {
  return ((value & 0xff) << 8) | ((value >>> 8) & 0xff);
}

/**
 * Converts a 16-bit value from network to host byte order; the same swap as
 * {@linkcode htons}.
 *
 * @param value A 16-bit value in network byte order.
 * @returns The value in host byte order.
 */
export function ntohs(value: number): number {
  return htons(value);
}
