import assert from "node:assert/strict";
import { HAS_CC, runCProbe } from "../tests/_kit.ts";
import {
  cmsgAlign,
  CMSGHDR,
  cmsgLen,
  cmsgSpace,
  EPOLL_EVENT,
  EPOLL_EVENT_BY_ARCH,
  htons,
  IOVEC,
  LINGER,
  LINUX_DIRENT64,
  MSGHDR,
  ntohs,
  RLIMIT,
  SERVENT,
  SOCKADDR_IN,
  SOCKADDR_IN6,
  SOCKADDR_STORAGE,
  UCRED,
} from "./layout.ts";

Deno.test("layout has the known sizes and offsets of Linux LP64 structs", () => {
  assert.deepEqual(SOCKADDR_IN, { size: 16, family: 0, port: 2, addr: 4 });
  assert.deepEqual(SOCKADDR_IN6, {
    size: 28,
    family: 0,
    port: 2,
    flowinfo: 4,
    addr: 8,
    scopeId: 24,
  });
  assert.equal(SOCKADDR_STORAGE.size, 128);
  assert.deepEqual(SERVENT, {
    size: 32,
    name: 0,
    aliases: 8,
    port: 16,
    proto: 24,
  });
  assert.deepEqual(LINGER, { size: 8, onoff: 0, linger: 4 });
  assert.deepEqual(MSGHDR, {
    size: 56,
    name: 0,
    namelen: 8,
    iov: 16,
    iovlen: 24,
    control: 32,
    controllen: 40,
    flags: 48,
  });
  assert.deepEqual(IOVEC, { size: 16, base: 0, len: 8 });
  assert.deepEqual(CMSGHDR, { size: 16, len: 0, level: 8, type: 12, data: 16 });
  assert.deepEqual(RLIMIT, { size: 16, cur: 0, max: 8 });
  assert.deepEqual(UCRED, { size: 12, pid: 0, uid: 4, gid: 8 });
  assert.deepEqual(LINUX_DIRENT64, {
    ino: 0,
    off: 8,
    reclen: 16,
    type: 18,
    name: 19,
  });
});

Deno.test("layout packs epoll_event on x86_64 only", () => {
  assert.deepEqual(EPOLL_EVENT_BY_ARCH.x86_64, {
    size: 12,
    events: 0,
    data: 4,
  });
  assert.deepEqual(EPOLL_EVENT_BY_ARCH.aarch64, {
    size: 16,
    events: 0,
    data: 8,
  });
  assert.equal(EPOLL_EVENT, EPOLL_EVENT_BY_ARCH[Deno.build.arch]);
});

Deno.test("cmsgSpace() and cmsgLen() match CMSG_SPACE and CMSG_LEN", () => {
  assert.equal(cmsgLen(4), 20);
  assert.equal(cmsgSpace(4), 24);
  assert.equal(cmsgSpace(8), 24);
  assert.equal(cmsgSpace(12), 32);
  assert.equal(cmsgLen(4 * 253), 16 + 1012);
  assert.equal(cmsgAlign(0), 0);
  assert.equal(cmsgAlign(1), 8);
});

Deno.test("htons() and ntohs() swap the two bytes of a port", () => {
  assert.equal(htons(80), 20480);
  assert.equal(ntohs(20480), 80);
  assert.equal(htons(0x1234), 0x3412);
  assert.equal(ntohs(htons(65535)), 65535);
  assert.equal(ntohs(htons(0)), 0);
});

const PROBE = `#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <netdb.h>
#include <netinet/in.h>
#include <dirent.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#define P(name, value) printf("%s %zu\\n", name, (size_t)(value))
int main(void) {
  P("SOCKADDR_IN.size", sizeof(struct sockaddr_in));
  P("SOCKADDR_IN.family", offsetof(struct sockaddr_in, sin_family));
  P("SOCKADDR_IN.port", offsetof(struct sockaddr_in, sin_port));
  P("SOCKADDR_IN.addr", offsetof(struct sockaddr_in, sin_addr));
  P("SOCKADDR_IN6.size", sizeof(struct sockaddr_in6));
  P("SOCKADDR_IN6.family", offsetof(struct sockaddr_in6, sin6_family));
  P("SOCKADDR_IN6.port", offsetof(struct sockaddr_in6, sin6_port));
  P("SOCKADDR_IN6.flowinfo", offsetof(struct sockaddr_in6, sin6_flowinfo));
  P("SOCKADDR_IN6.addr", offsetof(struct sockaddr_in6, sin6_addr));
  P("SOCKADDR_IN6.scopeId", offsetof(struct sockaddr_in6, sin6_scope_id));
  P("SOCKADDR_STORAGE.size", sizeof(struct sockaddr_storage));
  P("SOCKADDR_STORAGE.family", offsetof(struct sockaddr_storage, ss_family));
  P("SERVENT.size", sizeof(struct servent));
  P("SERVENT.name", offsetof(struct servent, s_name));
  P("SERVENT.aliases", offsetof(struct servent, s_aliases));
  P("SERVENT.port", offsetof(struct servent, s_port));
  P("SERVENT.proto", offsetof(struct servent, s_proto));
  P("LINGER.size", sizeof(struct linger));
  P("LINGER.onoff", offsetof(struct linger, l_onoff));
  P("LINGER.linger", offsetof(struct linger, l_linger));
  P("MSGHDR.size", sizeof(struct msghdr));
  P("MSGHDR.name", offsetof(struct msghdr, msg_name));
  P("MSGHDR.namelen", offsetof(struct msghdr, msg_namelen));
  P("MSGHDR.iov", offsetof(struct msghdr, msg_iov));
  P("MSGHDR.iovlen", offsetof(struct msghdr, msg_iovlen));
  P("MSGHDR.control", offsetof(struct msghdr, msg_control));
  P("MSGHDR.controllen", offsetof(struct msghdr, msg_controllen));
  P("MSGHDR.flags", offsetof(struct msghdr, msg_flags));
  P("IOVEC.size", sizeof(struct iovec));
  P("IOVEC.base", offsetof(struct iovec, iov_base));
  P("IOVEC.len", offsetof(struct iovec, iov_len));
  P("CMSGHDR.size", sizeof(struct cmsghdr));
  P("CMSGHDR.len", offsetof(struct cmsghdr, cmsg_len));
  P("CMSGHDR.level", offsetof(struct cmsghdr, cmsg_level));
  P("CMSGHDR.type", offsetof(struct cmsghdr, cmsg_type));
  P("CMSGHDR.data", CMSG_LEN(0));
  P("RLIMIT.size", sizeof(struct rlimit));
  P("RLIMIT.cur", offsetof(struct rlimit, rlim_cur));
  P("RLIMIT.max", offsetof(struct rlimit, rlim_max));
  P("UCRED.size", sizeof(struct ucred));
  P("UCRED.pid", offsetof(struct ucred, pid));
  P("UCRED.uid", offsetof(struct ucred, uid));
  P("UCRED.gid", offsetof(struct ucred, gid));
  P("LINUX_DIRENT64.ino", offsetof(struct dirent64, d_ino));
  P("LINUX_DIRENT64.off", offsetof(struct dirent64, d_off));
  P("LINUX_DIRENT64.reclen", offsetof(struct dirent64, d_reclen));
  P("LINUX_DIRENT64.type", offsetof(struct dirent64, d_type));
  P("LINUX_DIRENT64.name", offsetof(struct dirent64, d_name));
  P("EPOLL_EVENT.size", sizeof(struct epoll_event));
  P("EPOLL_EVENT.events", offsetof(struct epoll_event, events));
  P("EPOLL_EVENT.data", offsetof(struct epoll_event, data));
  P("cmsgSpace(4)", CMSG_SPACE(4));
  P("cmsgLen(4)", CMSG_LEN(4));
  P("cmsgSpace(12)", CMSG_SPACE(12));
  P("cmsgLen(12)", CMSG_LEN(12));
  return 0;
}
`;

Deno.test({
  name: "layout matches sizeof and offsetof from the C compiler",
  ignore: !HAS_CC,
  async fn() {
    const stdout = await runCProbe(PROBE);
    const structs: Record<string, Readonly<Record<string, number>>> = {
      SOCKADDR_IN,
      SOCKADDR_IN6,
      SOCKADDR_STORAGE,
      SERVENT,
      LINGER,
      MSGHDR,
      IOVEC,
      CMSGHDR,
      RLIMIT,
      UCRED,
      LINUX_DIRENT64,
      EPOLL_EVENT: { ...EPOLL_EVENT },
    };
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, PROBE.split('  P("').length - 1);
    for (const line of lines) {
      const [key = "", value = ""] = line.split(" ");
      const expected = Number(value);
      const call = /^(cmsgSpace|cmsgLen)\((\d+)\)$/.exec(key);
      if (call !== null) {
        const fn = call[1] === "cmsgSpace" ? cmsgSpace : cmsgLen;
        assert.equal(fn(Number(call[2])), expected, key);
        continue;
      }
      const [struct = "", field = ""] = key.split(".");
      assert.equal(structs[struct]?.[field], expected, key);
    }
  },
});
