import assert from "node:assert/strict";
import {
  daemonArgv,
  PARENT_DEATH_WRAPPER,
  parentDeathWrapper,
  programExists,
  splitCommand,
} from "./daemon_command.ts";

Deno.test("splitCommand() splits on blanks like a shell, without expansion", () => {
  assert.deepEqual(splitCommand("squidGuard -c sg/adblock.conf"), [
    "squidGuard",
    "-c",
    "sg/adblock.conf",
  ]);
  assert.deepEqual(splitCommand("  a\t b  "), ["a", "b"]);
  assert.deepEqual(splitCommand(`prog 'a b' "c d" e\\ f`), [
    "prog",
    "a b",
    "c d",
    "e f",
  ]);
  assert.deepEqual(splitCommand(`echo '$HOME' "\\$x \\"q\\" \\n" ''`), [
    "echo",
    "$HOME",
    '$x "q" \\n',
    "",
  ]);
  assert.deepEqual(splitCommand(`a'b'"c"d`), ["abcd"]);
});

Deno.test("splitCommand() rejects unterminated quotes and empty commands", () => {
  assert.throws(() => splitCommand("a 'b"), TypeError);
  assert.throws(() => splitCommand(`a "b`), TypeError);
  assert.throws(() => splitCommand("a \\"), TypeError);
  assert.throws(() => splitCommand("   "), TypeError);
});

Deno.test("daemonArgv() runs the command through /bin/sh -c with shell", () => {
  assert.deepEqual(daemonArgv("cat | tr a b", { shell: true }), [
    "/bin/sh",
    "-c",
    "cat | tr a b",
  ]);
  assert.deepEqual(daemonArgv("cat -u"), ["cat", "-u"]);
  assert.throws(() => daemonArgv(" ", { shell: true }), TypeError);
});

Deno.test("programExists() finds programs on PATH and executable paths only", async () => {
  assert.equal(await programExists("cat"), true);
  assert.equal(await programExists("/bin/sh"), true);
  assert.equal(await programExists("no-such-program-iotcpd"), false);
  assert.equal(await programExists("/no/such/program"), false);
  const file = await Deno.makeTempFile({ prefix: "iotcpd_noexec_" });
  try {
    assert.equal(await programExists(file), false, "not executable");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("parentDeathWrapper() offers setpriv when it works here", async () => {
  const wrapper = await parentDeathWrapper();
  const probe = await new Deno.Command("sh", {
    args: ["-c", "setpriv --pdeathsig KILL -- true"],
    stderr: "null",
  }).output();
  assert.deepEqual(wrapper, probe.success ? [...PARENT_DEATH_WRAPPER] : []);
});
