import assert from "node:assert/strict";
import { LocalCommandError, parseLocalCommand } from "./local_commands.ts";

Deno.test("parseLocalCommand() knows the abusive client's words", () => {
  assert.deepEqual(parseLocalCommand("passive"), { name: "passive" });
  assert.deepEqual(parseLocalCommand(" short "), { name: "short" });
  assert.deepEqual(parseLocalCommand("bye"), { name: "bye" });
  assert.deepEqual(parseLocalCommand("die"), { name: "die" });
  assert.deepEqual(parseLocalCommand("shut 1"), { name: "shut", how: 1 });
  assert.deepEqual(parseLocalCommand("shutdown 2"), { name: "shut", how: 2 });
  assert.deepEqual(parseLocalCommand("linger 0"), {
    name: "linger",
    seconds: 0,
  });
  assert.deepEqual(parseLocalCommand("lingr 5"), {
    name: "linger",
    seconds: 5,
  });
  assert.deepEqual(parseLocalCommand("timeout 1.5"), {
    name: "timeout",
    seconds: 1.5,
  });
  assert.deepEqual(parseLocalCommand("tmout"), { name: "timeout", seconds: 5 });
});

Deno.test("parseLocalCommand() leaves everything else to be sent", () => {
  for (
    const line of [
      "getstatus",
      "quit",
      "hello there",
      "",
      "bye bye",
      "die now",
      "shut 1 2",
    ]
  ) {
    assert.equal(parseLocalCommand(line), undefined, line);
  }
});

Deno.test("parseLocalCommand() rejects bad arguments", () => {
  assert.throws(() => parseLocalCommand("shut 3"), LocalCommandError);
  assert.throws(() => parseLocalCommand("shut"), LocalCommandError);
  assert.throws(() => parseLocalCommand("shut 1.5"), LocalCommandError);
  assert.throws(() => parseLocalCommand("linger x"), LocalCommandError);
  assert.throws(() => parseLocalCommand("timeout -1"), LocalCommandError);
});
