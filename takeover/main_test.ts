import assert from "node:assert/strict";
import { main } from "./main.ts";

// main() prints help and usage errors itself; these check the exit codes.

Deno.test("main() answers -h and -V with 0, at the top and per command", async () => {
  assert.equal(await main(["-h"]), 0);
  assert.equal(await main(["--version"]), 0);
  assert.equal(await main(["server", "-h"]), 0);
  assert.equal(await main(["client", "--help"]), 0);
});

Deno.test("main() returns 64 for an unknown command or a bad command line", async () => {
  assert.equal(await main([]), 64);
  assert.equal(await main(["serve"]), 64);
  assert.equal(await main(["server", "-a", "127.0.0.1"]), 64);
  assert.equal(await main(["client", "-p", "1"]), 64);
});
