import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  IPPROTO_TCP,
  O_CLOEXEC,
  O_RDONLY,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_STREAM,
} from "./constants.ts";
import { check, ErrnoError } from "./errno.ts";
import { libc } from "./libc.ts";
import { bindTcp, closeFd, listenTcp } from "./raw_socket.ts";
import {
  formatSocketKind,
  isTcp,
  type SocketKind,
  socketKinds,
} from "./socket_kind.ts";

/** The fds opened by `fn`, closed after it (whatever happens). */
function withFds(fn: (open: (fd: number) => number) => void): void {
  const fds: number[] = [];
  try {
    fn((fd) => {
      fds.push(fd);
      return fd;
    });
  } finally {
    for (const fd of fds) closeFd(fd);
  }
}

Deno.test("socketKinds() reports listeners, unconnected TCP, UDP, Unix sockets and non-sockets", () => {
  withFds((open) => {
    const c = libc();
    const listener = open(listenTcp({ hostname: "127.0.0.1", port: 0 }).fd);
    const listener6 = open(listenTcp({ hostname: "::1", port: 0 }).fd);
    const bound = open(
      bindTcp({
        hostname: "127.0.0.1",
        port: 0,
        reuseAddr: false,
        reusePort: false,
      }).fd,
    );
    const udp = open(
      check(c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"),
    );
    const pair = new Int32Array(2);
    check(
      c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair),
      "socketpair",
    );
    open(pair[1]!);
    const unix = open(pair[0]!);
    const file = open(
      check(
        c.open(
          new TextEncoder().encode("/dev/null\0"),
          O_RDONLY | O_CLOEXEC,
          0,
        ),
        "open",
      ),
    );
    const kinds = socketKinds([listener, listener6, bound, udp, unix, file]);
    assert.deepEqual(kinds, [
      {
        domain: AF_INET,
        type: SOCK_STREAM,
        protocol: IPPROTO_TCP,
        listening: true,
      },
      {
        domain: AF_INET6,
        type: SOCK_STREAM,
        protocol: IPPROTO_TCP,
        listening: true,
      },
      {
        domain: AF_INET,
        type: SOCK_STREAM,
        protocol: IPPROTO_TCP,
        listening: false,
      },
      { domain: AF_INET, type: SOCK_DGRAM, protocol: 17, listening: false },
      { domain: AF_UNIX, type: SOCK_STREAM, protocol: 0, listening: false },
      null,
    ]);
    assert.deepEqual(kinds.map(isTcp), [true, true, true, false, false, false]);
    assert.deepEqual(kinds.map(formatSocketKind), [
      "a listening TCP socket (IPv4)",
      "a listening TCP socket (IPv6)",
      "a TCP socket (IPv4)",
      "a UDP socket (IPv4)",
      "a Unix stream socket",
      "not a socket",
    ]);
  });
});

Deno.test("socketKinds() throws ErrnoError for an fd that is not open", () => {
  // Far above any fd table: a number just closed could be reused at once
  // by another thread of the runtime.
  assert.throws(
    () => socketKinds([0x7fff_fff0]),
    (error: unknown) => error instanceof ErrnoError && error.code === "EBADF",
  );
});

Deno.test("formatSocketKind() names kinds it has no words for by their numbers", () => {
  const odd: SocketKind = {
    domain: 16,
    type: 3,
    protocol: 0,
    listening: false,
  };
  assert.equal(
    formatSocketKind(odd),
    "a socket of domain 16, type 3, protocol 0",
  );
  assert.equal(
    formatSocketKind({
      domain: AF_INET,
      type: 3,
      protocol: 1,
      listening: false,
    }),
    "a IPv4 socket of type 3, protocol 1",
  );
});
