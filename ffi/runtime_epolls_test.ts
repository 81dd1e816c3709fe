import assert from "node:assert/strict";
import { EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLLIN } from "./constants.ts";
import { check } from "./errno.ts";
import { EPOLL_EVENT } from "./layout.ts";
import { libc } from "./libc.ts";
import { epollFds, epollFdsWatching } from "./runtime_epolls.ts";

Deno.test("epollFds() finds Deno's own epoll instance", () => {
  const fds = epollFds();
  assert.ok(fds.length >= 1, "Deno's runtime waits on an epoll instance");
  assert.deepEqual(fds, [...fds].sort((a, b) => a - b));
  // Only epoll fds: none of the standard streams.
  for (const fd of [0, 1, 2]) assert.equal(fds.includes(fd), false);
});

Deno.test("epollFds() finds a new instance, leaves out what it is told to, and forgets a closed one", () => {
  const epfd = check(libc().epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
  try {
    assert.ok(epollFds().includes(epfd));
    assert.equal(epollFds([epfd]).includes(epfd), false);
  } finally {
    libc().close(epfd);
  }
  assert.equal(epollFds().includes(epfd), false);
});

Deno.test("epollFdsWatching() finds the epoll instances that watch an fd", () => {
  const c = libc();
  const outer = check(c.epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
  const inner = check(c.epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
  try {
    const event = new Uint8Array(EPOLL_EVENT.size);
    new DataView(event.buffer).setUint32(0, EPOLLIN, true);
    check(c.epoll_ctl(outer, EPOLL_CTL_ADD, inner, event), "epoll_ctl");
    assert.deepEqual(epollFdsWatching(inner), [outer]);
    assert.deepEqual(epollFdsWatching(inner, [outer]), []);
    assert.deepEqual(epollFdsWatching(outer), []);
  } finally {
    c.close(inner);
    c.close(outer);
  }
});
