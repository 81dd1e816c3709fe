import assert from "node:assert/strict";
import { ErrnoError } from "./errno.ts";
import { SharedMemory } from "./shared_memory.ts";

/** Returns what `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("Expected a throw");
}

Deno.test("SharedMemory.create() maps zeroed memory of the given size", () => {
  using shared = SharedMemory.create(4098);
  assert.equal(shared.size, 4098);
  assert.equal(shared.bytes.length, 4098);
  assert.equal(shared.int32.length, 1024);
  assert.ok(shared.bytes.every((byte) => byte === 0));
  assert.match(shared.path, new RegExp(`^/proc/${Deno.pid}/fd/\\d+$`));
  // The same view objects every time, over the same memory.
  assert.equal(shared.bytes, shared.bytes);
  shared.int32[0] = 0x01020304;
  assert.deepEqual([...shared.bytes.subarray(0, 4)], [4, 3, 2, 1]);
});

Deno.test("SharedMemory.create() names the memfd", async () => {
  using shared = SharedMemory.create(16, "tcpkit-test-name");
  // /proc/<pid>/fd needs --allow-all in Deno, so read the link through a
  // child that has it.
  const output = await new Deno.Command("readlink", {
    args: [shared.path],
    stdin: "null",
  }).output();
  assert.ok(output.success);
  assert.equal(
    new TextDecoder().decode(output.stdout).trim(),
    "/memfd:tcpkit-test-name (deleted)",
  );
});

Deno.test("SharedMemory.open() of the path shares memory both ways in one process", () => {
  using first = SharedMemory.create(64);
  first.int32[0] = 7;
  using second = SharedMemory.open(first.path, 64);
  assert.equal(second.path, first.path);
  assert.equal(second.int32[0], 7);
  second.int32[1] = -5;
  assert.equal(first.int32[1], -5);
  Atomics.add(second.int32, 0, 3);
  assert.equal(Atomics.load(first.int32, 0), 10);
  // Two mappings, not one: closing one leaves the other working.
  second.close();
  first.bytes[8] = 1;
  assert.equal(first.bytes[8], 1);
});

Deno.test("SharedMemory.open() may map a prefix of a larger region", () => {
  using whole = SharedMemory.create(8192);
  whole.int32[1] = 99;
  using prefix = SharedMemory.open(whole.path, 8);
  assert.equal(prefix.size, 8);
  assert.equal(prefix.int32.length, 2);
  assert.equal(prefix.int32[1], 99);
});

Deno.test("SharedMemory is shared with a child Deno process", async () => {
  using shared = SharedMemory.create(64, "tcpkit-child-test");
  shared.int32[0] = 7;
  const url = new URL("./shared_memory.ts", import.meta.url).href;
  const script = `
    import { SharedMemory } from ${JSON.stringify(url)};
    using shared = SharedMemory.open(${JSON.stringify(shared.path)}, 64);
    if (shared.int32[0] !== 7) throw new Error("saw " + shared.int32[0]);
    shared.int32[1] = 42;
  `;
  // deno eval takes permission flags (it runs with all permissions anyway).
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--allow-ffi", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const output = await Promise.race([
      child.output(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("Child timed out")), 30_000);
      }),
    ]);
    assert.equal(
      output.code,
      0,
      new TextDecoder().decode(output.stderr),
    );
    assert.equal(shared.int32[1], 42);
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
  }
});

Deno.test("SharedMemory.open() of a missing path throws ErrnoError ENOENT", () => {
  const error = thrown(() =>
    SharedMemory.open("/nonexistent/tcpkit-shared-memory", 16)
  );
  assert.ok(error instanceof ErrnoError);
  assert.equal(error.code, "ENOENT");
  assert.equal(error.syscall, "open");
  assert.equal(
    error.message,
    "Cannot open /nonexistent/tcpkit-shared-memory: ENOENT (errno 2)",
  );
});

Deno.test("SharedMemory.open() throws RangeError when the file is smaller than size", () => {
  using shared = SharedMemory.create(4096);
  assert.throws(() => SharedMemory.open(shared.path, 4097), {
    name: "RangeError",
    message: `Cannot map 4097 bytes of ${shared.path}: the file has only 4096`,
  });
});

Deno.test("SharedMemory.close() is idempotent, and the getters then throw BadResource", () => {
  const shared = SharedMemory.create(16);
  const bytes = shared.bytes;
  const int32 = shared.int32;
  bytes[0] = 1;
  shared.close();
  shared.close();
  shared[Symbol.dispose]();
  assert.throws(() => shared.bytes, Deno.errors.BadResource);
  assert.throws(() => shared.int32, Deno.errors.BadResource);
  assert.throws(() => shared.path, Deno.errors.BadResource);
  assert.throws(() => shared.size, Deno.errors.BadResource);
  // Views taken before are detached, so they cannot reach unmapped memory.
  assert.equal(bytes.length, 0);
  assert.equal(int32.length, 0);
  assert.equal(bytes[0], undefined);
  bytes[0] = 2;
  assert.equal(bytes[0], undefined);
});

Deno.test("SharedMemory.close() closes the fd", () => {
  const shared = SharedMemory.create(16);
  const path = shared.path;
  shared.close();
  // Nothing else opens fds in between (synchronous), so the path is gone.
  const error = thrown(() => SharedMemory.open(path, 16));
  assert.ok(error instanceof ErrnoError);
  assert.equal(error.code, "ENOENT");
});

Deno.test("SharedMemory validates size, name and path before calling libc", () => {
  assert.throws(() => SharedMemory.create(0), RangeError);
  assert.throws(() => SharedMemory.create(-1), RangeError);
  assert.throws(() => SharedMemory.create(1.5), RangeError);
  assert.throws(() => SharedMemory.create(2 ** 31), RangeError);
  assert.throws(
    () => SharedMemory.create("16" as unknown as number),
    TypeError,
  );
  assert.throws(() => SharedMemory.create(16, "a\0b"), TypeError);
  assert.throws(() => SharedMemory.create(16, "x".repeat(250)), RangeError);
  using named = SharedMemory.create(16, "x".repeat(249));
  assert.equal(named.size, 16);
  assert.throws(() => SharedMemory.open("", 16), TypeError);
  assert.throws(() => SharedMemory.open("/tmp/a\0b", 16), TypeError);
  assert.throws(() => SharedMemory.open("/dev/null", 0), RangeError);
});
