/**
 * The documentation stays sound: `deno doc --lint` finds nothing to report
 * on the published modules, and every TypeScript snippet in README.md
 * type-checks (issue 13, point 5).
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

/** The published entry points (deno.json `exports` that are modules). */
const MODULES = [
  "mod.ts",
  "common/mod.ts",
  "logging/mod.ts",
  "ffi/mod.ts",
  "net/mod.ts",
  "metrics/mod.ts",
  "server/mod.ts",
  "client/mod.ts",
  "pool/mod.ts",
  "takeover/mod.ts",
];

async function denoSucceeds(args: string[]): Promise<void> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(
    code,
    0,
    `deno ${args.join(" ")} failed (exit ${code}):\n` +
      decoder.decode(stdout) + decoder.decode(stderr),
  );
}

Deno.test("deno doc --lint reports nothing on the published modules", async () => {
  await denoSucceeds(["doc", "--lint", ...MODULES]);
});

Deno.test("every TypeScript snippet in README.md type-checks", async () => {
  await denoSucceeds(["check", "--doc-only", "README.md"]);
});
