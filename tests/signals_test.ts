import assert from "node:assert/strict";
import { ROOT } from "./_helpers.ts";

Deno.test("a stop signal that arrives after the stop listeners were cleaned up does not kill the process", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `${ROOT}tests/fixtures/late_stop_signal.ts`],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15000),
  }).output();
  assert.equal(out.signal, null, "killed by a signal");
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), "survived\n");
});
