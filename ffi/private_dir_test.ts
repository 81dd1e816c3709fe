import assert from "node:assert/strict";
import { makePrivateDir, removeEmptyDir, tempRoot } from "./private_dir.ts";

Deno.test("makePrivateDir() makes a fresh 0700 directory under the root", async () => {
  const root = await Deno.makeTempDir({ prefix: "tcpkit_private_dir_test_" });
  try {
    const a = makePrivateDir("x-", root);
    const b = makePrivateDir("x-", root);
    assert.notEqual(a, b);
    assert.match(a, new RegExp(`^${root}/x-[A-Za-z0-9]{6}$`));
    const info = await Deno.stat(a);
    assert.ok(info.isDirectory);
    assert.equal(info.mode! & 0o777, 0o700);
    assert.equal(removeEmptyDir(a), true);
    assert.equal(removeEmptyDir(a), false);
    assert.equal(removeEmptyDir(b), true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("makePrivateDir() and removeEmptyDir() report failures clearly", async () => {
  assert.throws(() => makePrivateDir("a/b"), TypeError);
  assert.throws(() => makePrivateDir(""), TypeError);
  assert.throws(
    () => makePrivateDir("x-", "/nonexistent-tcpkit-root"),
    /mkdtemp.*ENOENT|ENOENT.*mkdtemp/,
  );
  const root = await Deno.makeTempDir({ prefix: "tcpkit_private_dir_test_" });
  try {
    await Deno.writeTextFile(`${root}/file`, "");
    assert.throws(() => removeEmptyDir(root), /ENOTEMPTY/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tempRoot() is absolute", () => {
  assert.ok(tempRoot().startsWith("/"));
});
