import assert from "node:assert/strict";
import { VERSION } from "../common/version.ts";
import { helpText } from "./help_text.ts";

Deno.test("helpText() starts with the greeting", () => {
  assert.ok(helpText("1.2.3").startsWith("Wellcome to tcpservd"));
});

Deno.test("helpText() contains the version in its first line", () => {
  const firstLine = helpText("9.8.7-beta").split("\n")[0];
  assert.equal(firstLine, "Wellcome to tcpservd 9.8.7-beta online help");
  assert.ok(helpText(VERSION).includes(VERSION));
});

Deno.test("helpText() has one line per command", () => {
  const lines = helpText("1.2.3").split("\n");
  for (
    const command of [
      "getstatus",
      "version",
      "hostname",
      "setbad",
      "setgood",
      "startloop",
      "quit",
      "setdrain",
      "setready",
      "setweight",
      "setmaxconn",
    ]
  ) {
    const found = lines.filter((line) =>
      new RegExp(`^${command} +:\\t`).test(line)
    );
    assert.equal(found.length, 1, `line for ${command}`);
  }
});

Deno.test("helpText() documents the startloop default", () => {
  const line = helpText("1.2.3").split("\n").find((l) =>
    l.startsWith("startloop")
  );
  assert.ok(line);
  assert.match(line, /default 5/);
});

Deno.test("helpText() ends with a newline", () => {
  const text = helpText("1.2.3");
  assert.ok(text.endsWith("\n"));
  assert.ok(!text.endsWith("\n\n"));
});
