import assert from "node:assert/strict";
import { DEFAULT_LIBC_PATH, libc, LIBC_PATH_ENV } from "./libc.ts";

Deno.test("libc() opens the library once and returns the same symbols", () => {
  const first = libc();
  assert.equal(libc(), first);
  assert.equal(first.getpid(), Deno.pid);
});

Deno.test("libc() defaults to libc.so.6 and reads TCPKIT_LIBC_PATH", () => {
  assert.equal(DEFAULT_LIBC_PATH, "libc.so.6");
  assert.equal(LIBC_PATH_ENV, "TCPKIT_LIBC_PATH");
});

/** Runs a script that calls libc() in a child Deno and returns its stdout. */
async function runChild(
  flags: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tcpkit_libc_test_" });
  try {
    const script = `${dir}/child.ts`;
    const libcUrl = new URL("./libc.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { libc } from ${JSON.stringify(libcUrl)};
try {
  console.log("pid " + (libc().getpid() === Deno.pid));
} catch (error) {
  const e = error as Error;
  console.log(e.name + "|" + e.message + "|" + (e.cause instanceof Error ? e.cause.name : "none"));
}
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--no-lock",
        "--no-prompt",
        ...flags,
        script,
      ],
      env,
      stdin: "null",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return new TextDecoder().decode(output.stdout).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("libc() lets NotCapable through untouched without --allow-ffi", async () => {
  const out = await runChild([]);
  assert.match(out, /^NotCapable\|.*--allow-ffi.*\|none$/);
});

Deno.test("libc() wraps a failed dlopen as Error with the cause", async () => {
  const out = await runChild(["--allow-ffi", "--allow-env"], {
    [LIBC_PATH_ENV]: "/nonexistent/libc.so.6",
  });
  assert.match(
    out,
    /^Error\|Cannot load libc: \/nonexistent\/libc\.so\.6: .+ \(tcpkit's libc layer needs Linux with glibc \(libc\.so\.6\); musl \(Alpine\) and other systems are not supported\)\|Error$/,
  );
});

Deno.test("libc() falls back to libc.so.6 when --allow-env is missing", async () => {
  const out = await runChild(["--allow-ffi"], {
    [LIBC_PATH_ENV]: "/nonexistent/libc.so.6",
  });
  assert.equal(out, "pid true");
});
