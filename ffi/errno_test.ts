import assert from "node:assert/strict";
import {
  AF_INET,
  SO_LINGER,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./constants.ts";
import {
  check,
  errno,
  ERRNO_CODES,
  errnoCode,
  ErrnoError,
  errnoError,
  UNKNOWN_ERRNO_CODE,
} from "./errno.ts";
import { libc } from "./libc.ts";
import { encodeSockaddr, parseIp } from "./sockaddr.ts";

/** Returns an fd number that was a socket a moment ago and is now closed. */
function closedFd(): number {
  const fd = check(
    libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  check(libc().close(fd), "close");
  return fd;
}

/** Returns what `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("Expected a throw");
}

Deno.test("errnoCode() names common errnos and UNKNOWN for others", () => {
  assert.equal(errnoCode(9), "EBADF");
  assert.equal(errnoCode(98), "EADDRINUSE");
  assert.equal(errnoCode(88), "ENOTSOCK");
  assert.equal(errnoCode(4095), UNKNOWN_ERRNO_CODE);
  assert.equal(Object.keys(ERRNO_CODES).length, 34);
});

Deno.test("errno() reads errno right after a failed call", () => {
  const fd = closedFd();
  const rc = libc().close(fd);
  const n = errno();
  assert.equal(rc, -1);
  assert.equal(n, 9);
});

Deno.test("check() returns a non-negative rc as a number", () => {
  assert.equal(check(0, "close"), 0);
  assert.equal(check(5, "dup"), 5);
  assert.equal(check(17n, "write"), 17);
});

Deno.test("check() throws ErrnoError with errno, code and syscall for EBADF", () => {
  const buffer = new Int32Array(2);
  const fd = closedFd();
  const rc = libc().setsockopt(
    fd,
    SOL_SOCKET,
    SO_LINGER,
    buffer,
    buffer.byteLength,
  );
  const error = thrown(() => check(rc, "setsockopt", `SO_LINGER on fd ${fd}`));
  assert.ok(error instanceof ErrnoError);
  assert.equal(error.name, "ErrnoError");
  assert.equal(error.errno, 9);
  assert.equal(error.code, "EBADF");
  assert.equal(error.syscall, "setsockopt");
  assert.equal(
    error.message,
    `Cannot setsockopt SO_LINGER on fd ${fd}: EBADF (errno 9)`,
  );
});

Deno.test("check() throws Deno.errors.AddrInUse when bind() finds the port taken", () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fd = check(
    libc().socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
    "socket",
  );
  try {
    const address = encodeSockaddr({
      family: "ipv4",
      address: parseIp("127.0.0.1"),
      port: listener.addr.port,
    });
    const error = thrown(() =>
      check(libc().bind(fd, address, address.byteLength), "bind", `on fd ${fd}`)
    );
    assert.ok(error instanceof Deno.errors.AddrInUse);
    assert.equal(Reflect.get(error, "code"), "EADDRINUSE");
    assert.equal(
      error.message,
      `Cannot bind on fd ${fd}: EADDRINUSE (errno 98)`,
    );
    assert.ok(error.cause instanceof ErrnoError);
    assert.equal(error.cause.errno, 98);
    assert.equal(error.cause.syscall, "bind");
  } finally {
    libc().close(fd);
  }
});

Deno.test("errnoError() maps errnos to the Deno error classes the runtime uses", () => {
  const cases: [number, string, new (message?: string) => Error][] = [
    [98, "EADDRINUSE", Deno.errors.AddrInUse],
    [99, "EADDRNOTAVAIL", Deno.errors.AddrNotAvailable],
    [111, "ECONNREFUSED", Deno.errors.ConnectionRefused],
    [104, "ECONNRESET", Deno.errors.ConnectionReset],
    [103, "ECONNABORTED", Deno.errors.ConnectionAborted],
    [11, "EAGAIN", Deno.errors.WouldBlock],
    [32, "EPIPE", Deno.errors.BrokenPipe],
    [107, "ENOTCONN", Deno.errors.NotConnected],
    [110, "ETIMEDOUT", Deno.errors.TimedOut],
    [4, "EINTR", Deno.errors.Interrupted],
  ];
  for (const [n, code, ErrorClass] of cases) {
    const error = errnoError(n, "recvmsg", "on fd 3");
    assert.ok(error instanceof ErrorClass, code);
    assert.equal(Reflect.get(error, "code"), code);
    assert.equal(error.message, `Cannot recvmsg on fd 3: ${code} (errno ${n})`);
    assert.ok(error.cause instanceof ErrnoError);
  }
});

Deno.test("errnoError() returns ErrnoError for errnos without a Deno class", () => {
  const error = errnoError(88, "getsockname");
  assert.ok(error instanceof ErrnoError);
  assert.equal(error.code, "ENOTSOCK");
  assert.equal(error.message, "Cannot getsockname: ENOTSOCK (errno 88)");
  const unknown = errnoError(4000, "poll");
  assert.ok(unknown instanceof ErrnoError);
  assert.equal(unknown.message, "Cannot poll: UNKNOWN (errno 4000)");
});

Deno.test("ErrnoError has a default message and keeps its cause", () => {
  const cause = new Error("inner");
  const error = new ErrnoError(22, "listen", { cause });
  assert.equal(error.message, "Cannot listen: EINVAL (errno 22)");
  assert.equal(error.cause, cause);
  assert.ok(error instanceof Error);
});
