import assert from "node:assert/strict";
import { libc } from "./libc.ts";
import { LIBC_SYMBOLS } from "./symbols.ts";

Deno.test("LIBC_SYMBOLS resolves every symbol in libc", () => {
  const symbols = libc();
  for (const name of Object.keys(LIBC_SYMBOLS)) {
    assert.equal(typeof Reflect.get(symbols, name), "function", name);
  }
});

Deno.test("LIBC_SYMBOLS returns ssize_t results as bigint", () => {
  // write(-1, ...) fails with -1; as an isize it comes back as -1n.
  const rc = libc().write(-1, new Uint8Array(1), 1n);
  assert.equal(rc, -1n);
});

Deno.test("LIBC_SYMBOLS getpid, getuid and getgid agree with Deno", async () => {
  assert.equal(libc().getpid(), Deno.pid);
  // Deno.uid() needs --allow-sys; a file we create is owned by our uid/gid.
  const file = await Deno.makeTempFile({ prefix: "tcpkit_symbols_test_" });
  try {
    const info = await Deno.stat(file);
    assert.equal(libc().getuid(), info.uid);
    assert.equal(libc().getgid(), info.gid);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("LIBC_SYMBOLS declares only symbols some file calls", async () => {
  // An unused entry still costs a dlsym() at load and misleads readers; tests
  // count as users (poll() serves port_reservation_test).
  const root = new URL("../", import.meta.url);
  const sources: string[] = [];
  async function walk(relative: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(relative, root))) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const path = `${relative}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (path !== "ffi/symbols.ts" && entry.name.endsWith(".ts")) {
        sources.push(await Deno.readTextFile(new URL(path, root)));
      }
    }
  }
  await walk("");
  const text = sources.join("\n");
  const unused = Object.keys(LIBC_SYMBOLS).filter((name) =>
    !text.includes(`.${name}(`)
  );
  assert.deepEqual(unused, []);
});
