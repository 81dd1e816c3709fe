import assert from "node:assert/strict";
import { HAS_CC, runCProbe } from "../tests/_kit.ts";
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
import * as errnoModule from "./errno.ts";
import { libc } from "./libc.ts";
import { encodeSockaddr, parseIp } from "./sockaddr.ts";

/**
 * An fd number that is never open: far above any fd table (`nr_open` is at
 * most 2^30). Never a number just closed: the test modules run as workers
 * of one process, another thread takes the lowest free number at once, and
 * a close() (or a setsockopt()) of it then hits that thread's fd, such as a
 * listener of raw_socket_test.
 */
const NEVER_OPEN_FD = 0x7fff_fff0;

/** Returns what `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("Expected a throw");
}

Deno.test("errnoCode() names errnos and UNKNOWN for others", () => {
  assert.equal(errnoCode(9), "EBADF");
  assert.equal(errnoCode(98), "EADDRINUSE");
  assert.equal(errnoCode(88), "ENOTSOCK");
  assert.equal(errnoCode(21), "EISDIR");
  assert.equal(errnoCode(71), "EPROTO");
  assert.equal(errnoCode(4095), UNKNOWN_ERRNO_CODE);
  // 1 to 133, less the two numbers Linux never assigned (41, 58).
  assert.equal(Object.keys(ERRNO_CODES).length, 131);
});

/** The project's `.ts` files, as paths relative to the repository root. */
async function projectSources(): Promise<string[]> {
  const root = new URL("../", import.meta.url);
  const paths: string[] = [];
  async function walk(relative: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(relative, root))) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const path = `${relative}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (entry.isFile && entry.name.endsWith(".ts")) paths.push(path);
    }
  }
  await walk("");
  return paths;
}

Deno.test("errno numbers are declared once, in ffi/errno.ts, as ERRNO_CODES names them", async () => {
  const root = new URL("../", import.meta.url);
  // A `const` named E… given a decimal value (EINTR, EPROTO); hex values
  // such as EPOLLIN's are not errnos. (Spelling a declaration out here
  // would make this file match.)
  const declaration =
    /\b(?:const|let|var)\s+(E[A-Z0-9]+)\s*(?::\s*number\s*)?=\s*(\d+)\s*[;,]/g;
  const found = new Map<string, number>();
  for (const path of await projectSources()) {
    const text = await Deno.readTextFile(new URL(path, root));
    for (const [, name, value] of text.matchAll(declaration)) {
      if (name!.startsWith("EPOLL")) continue;
      found.set(`${path}: ${name}`, Number(value));
    }
  }
  // The scan itself must work, or the test proves nothing.
  assert.ok(
    found.has("ffi/errno.ts: EPROTO"),
    `EPROTO not found in ${[...found.keys()]}`,
  );
  for (const [where, value] of found) {
    assert.ok(where.startsWith("ffi/errno.ts: "), `declared again: ${where}`);
    const name = where.slice(where.indexOf(": ") + 2);
    assert.equal(errnoCode(value), name, where);
  }
});

Deno.test({
  name: "ERRNO_CODES matches the C headers",
  ignore: !HAS_CC,
  async fn() {
    const entries = Object.entries(ERRNO_CODES);
    const probe = [
      "#include <stdio.h>",
      "#include <errno.h>",
      "int main(void) {",
      ...entries.map(([, name]) =>
        `#ifdef ${name}\n  printf("${name} %d\\n", ${name});\n#endif`
      ),
      "  return 0;",
      "}",
    ].join("\n");
    const stdout = await runCProbe(probe);
    const seen = new Map(
      stdout.trim().split("\n").map((line) => {
        const [name = "", value = ""] = line.split(" ");
        return [name, Number(value)] as const;
      }),
    );
    for (const [number, name] of entries) {
      assert.equal(seen.get(name), Number(number), name);
    }
    // The named constants the toolkit compares against, one by one.
    for (const [name, value] of Object.entries(errnoModule)) {
      if (!/^E[A-Z0-9]+$/.test(name) || typeof value !== "number") continue;
      assert.equal(seen.get(name), value, name);
    }
  },
});

Deno.test("errno() reads errno right after a failed call", () => {
  const rc = libc().close(NEVER_OPEN_FD);
  const n = errno();
  assert.equal(rc, -1);
  assert.equal(n, 9);
});

Deno.test("errno() follows errno from one failed call to the next (a live view, read without an op)", () => {
  for (let round = 0; round < 3; round++) {
    assert.equal(libc().close(NEVER_OPEN_FD), -1);
    assert.equal(errno(), 9); // EBADF
    // An address family that does not exist: EAFNOSUPPORT.
    assert.equal(libc().socket(9999, 1, 0), -1);
    assert.equal(errno(), 97);
  }
});

Deno.test("check() returns a non-negative rc as a number", () => {
  assert.equal(check(0, "close"), 0);
  assert.equal(check(5, "dup"), 5);
  assert.equal(check(17n, "write"), 17);
});

Deno.test("check() throws ErrnoError with errno, code and syscall for EBADF", () => {
  const buffer = new Int32Array(2);
  const fd = NEVER_OPEN_FD;
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
