import assert from "node:assert/strict";
import { HAS_CC, runCProbe } from "../tests/_kit.ts";
import * as constants from "./constants.ts";

Deno.test("constants have the Linux values tcpkit relies on", () => {
  assert.equal(constants.AF_INET, 2);
  assert.equal(constants.AF_INET6, 10);
  assert.equal(constants.AF_UNIX, 1);
  assert.equal(constants.SOCK_STREAM, 1);
  assert.equal(constants.SOCK_NONBLOCK, 2048);
  assert.equal(constants.SOCK_CLOEXEC, 524288);
  assert.equal(constants.SOL_SOCKET, 1);
  assert.equal(constants.IPPROTO_TCP, 6);
  assert.equal(constants.SO_REUSEADDR, 2);
  assert.equal(constants.SO_KEEPALIVE, 9);
  assert.equal(constants.SO_LINGER, 13);
  assert.equal(constants.SO_REUSEPORT, 15);
  assert.equal(constants.SO_RCVBUF, 8);
  assert.equal(constants.SO_SNDBUF, 7);
  assert.equal(constants.SO_ACCEPTCONN, 30);
  assert.equal(constants.SO_PEERCRED, 17);
  assert.equal(constants.SO_COOKIE, 57);
  assert.equal(constants.O_RDONLY, 0);
  assert.equal(constants.O_DIRECTORY, 65536);
  assert.equal(constants.TCP_NODELAY, 1);
  assert.equal(constants.TCP_KEEPIDLE, 4);
  assert.equal(constants.TCP_KEEPINTVL, 5);
  assert.equal(constants.TCP_KEEPCNT, 6);
  assert.equal(constants.SCM_RIGHTS, 1);
  assert.equal(constants.MSG_NOSIGNAL, 0x4000);
  assert.equal(constants.MSG_CMSG_CLOEXEC, 0x40000000);
  assert.equal(constants.MSG_CTRUNC, 8);
  assert.equal(constants.SHUT_RD, 0);
  assert.equal(constants.SHUT_WR, 1);
  assert.equal(constants.SHUT_RDWR, 2);
  assert.equal(constants.RLIMIT_NOFILE, 7);
  assert.equal(constants.RLIM_INFINITY, 2n ** 64n - 1n);
  assert.equal(constants.TCP_LINGER2, 8);
  assert.equal(constants.O_RDWR, 2);
  assert.equal(constants.O_CLOEXEC, 0o2000000);
  assert.equal(constants.SEEK_END, 2);
  assert.equal(constants.MFD_CLOEXEC, 1);
  assert.equal(constants.PROT_READ, 1);
  assert.equal(constants.PROT_WRITE, 2);
  assert.equal(constants.MAP_SHARED, 1);
  assert.equal(constants.MAP_FAILED, 2n ** 64n - 1n);
});

Deno.test("constants are all UPPER_SNAKE numbers or bigints", () => {
  for (const [name, value] of Object.entries(constants)) {
    assert.match(name, /^[A-Z][A-Z0-9_]*$/);
    assert.ok(typeof value === "number" || typeof value === "bigint", name);
  }
});

Deno.test({
  name: "constants match the C headers",
  ignore: !HAS_CC,
  async fn() {
    const names = Object.keys(constants);
    // #ifdef: a name missing from old headers (SO_COOKIE) is reported, not a build error.
    const probe = [
      "#define _GNU_SOURCE",
      "#include <stdio.h>",
      "#include <fcntl.h>",
      "#include <netinet/in.h>",
      "#include <netinet/tcp.h>",
      "#include <poll.h>",
      "#include <sys/mman.h>",
      "#include <sys/resource.h>",
      "#include <sys/socket.h>",
      "#include <sys/epoll.h>",
      "#include <sys/eventfd.h>",
      "#include <unistd.h>",
      "int main(void) {",
      ...names.map((name) =>
        `#ifdef ${name}\n  printf("${name} %llu\\n", (unsigned long long)(${name}));\n#endif`
      ),
      "  return 0;",
      "}",
    ].join("\n");
    const stdout = await runCProbe(probe);
    const seen = new Set<string>();
    for (
      const line of stdout.trim().split("\n")
    ) {
      const [name = "", value = ""] = line.split(" ");
      const ours = Reflect.get(constants, name);
      assert.equal(BigInt(ours), BigInt(value), name);
      seen.add(name);
    }
    // Every name must be a macro the probe saw; SO_COOKIE needs Linux ≥ 4.12 headers.
    const missing = names.filter((name) =>
      !seen.has(name) && name !== "SO_COOKIE"
    );
    assert.deepEqual(missing, []);
  },
});
