/**
 * The layering the README's Architecture section describes, checked on the
 * code: which folder may import which, and that the section's layout block
 * names every source folder there is.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

// Folder → the folders of ours it may import (tests and scripts are free).
const ALLOWED: Record<string, readonly string[]> = {
  common: [],
  ffi: [],
  logging: ["common"],
  metrics: ["common", "logging"],
  net: ["common", "ffi", "logging"],
  client: ["common", "ffi", "logging"],
  pool: ["common", "ffi", "logging", "net", "metrics"],
  takeover: ["common", "ffi", "logging", "net", "metrics"],
  server: ["common", "ffi", "logging", "net", "takeover", "metrics"],
};
const FREE = new Set(["tests", "scripts", "contrib"]);

function sourceFolders(): string[] {
  return [...Deno.readDirSync(ROOT)]
    .filter((e) => e.isDirectory && !e.name.startsWith("."))
    .map((e) => e.name)
    .filter((name) => !FREE.has(name))
    .sort();
}

Deno.test("every source folder imports only the layers below it", () => {
  const wrong: string[] = [];
  for (const folder of sourceFolders()) {
    const allowed = ALLOWED[folder];
    assert.ok(allowed, `${folder}/ has no place in the layering: add it`);
    for (const entry of Deno.readDirSync(new URL(`${folder}/`, ROOT))) {
      if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) {
        continue;
      }
      const text = Deno.readTextFileSync(
        new URL(`${folder}/${entry.name}`, ROOT),
      );
      // Static and dynamic imports alike (`from "../x/…"`, `import("../x/…")`,
      // over several lines too).
      const imports = text.matchAll(
        /(?:\bfrom|\bimport\s*\(|^import)\s*["']\.\.\/([a-z_]+)\//gm,
      );
      for (const match of imports) {
        const target = match[1]!;
        if (!allowed.includes(target)) {
          wrong.push(`${folder}/${entry.name} imports ${target}/`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("the README's layout block names every source folder, and no other", () => {
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const section = readme.split("\n## Architecture\n")[1]?.split("\n## ")[0];
  assert.ok(section, "README has an Architecture section");
  const block = section.split("```")[1] ?? "";
  const named = [...block.matchAll(/^([a-z_]+)\/\s/gm)].map((m) => m[1]!);
  const expected = [
    ...sourceFolders(),
    ...[...FREE].filter((f) => {
      try {
        return Deno.statSync(new URL(f, ROOT)).isDirectory;
      } catch {
        return false;
      }
    }),
  ];
  assert.deepEqual(named.toSorted(), expected.toSorted());
});

Deno.test("no libc() call outside ffi/", () => {
  const calls: string[] = [];
  for (const folder of sourceFolders()) {
    if (folder === "ffi") continue;
    for (const entry of Deno.readDirSync(new URL(`${folder}/`, ROOT))) {
      if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) {
        continue;
      }
      const text = Deno.readTextFileSync(
        new URL(`${folder}/${entry.name}`, ROOT),
      );
      if (/\blibc\(\)/.test(text)) calls.push(`${folder}/${entry.name}`);
    }
  }
  assert.deepEqual(calls, []);
});
