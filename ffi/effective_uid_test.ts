import assert from "node:assert/strict";
import { effectiveUid } from "./effective_uid.ts";

Deno.test("effectiveUid() is the owner of a file this process creates", async () => {
  const file = await Deno.makeTempFile({
    prefix: "tcpkit_effective_uid_test_",
  });
  try {
    assert.equal(effectiveUid(), (await Deno.stat(file)).uid);
  } finally {
    await Deno.remove(file);
  }
});
