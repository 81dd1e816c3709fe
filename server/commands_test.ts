import assert from "node:assert/strict";
import {
  type Command,
  DEFAULT_LOOP_SECONDS,
  MAX_AGENT_MAXCONN,
  MAX_LOOP_SECONDS,
  MAX_WEIGHT_PERCENT,
  parseCommand,
} from "./commands.ts";

const encoder = new TextEncoder();

function parse(text: string): Command {
  return parseCommand(encoder.encode(text));
}

const STARTLOOP_ERROR: Command = {
  name: "error",
  message: `startloop: SECONDS must be a number from 0 to ${MAX_LOOP_SECONDS}`,
};

Deno.test("parseCommand() parses every simple command", () => {
  for (
    const name of [
      "help",
      "version",
      "hostname",
      "getstatus",
      "setbad",
      "setgood",
      "quit",
    ]
  ) {
    assert.deepEqual(parse(name), { name }, name);
  }
});

Deno.test("parseCommand() ignores case", () => {
  assert.deepEqual(parse("GetStatus"), { name: "getstatus" });
  assert.deepEqual(parse("SETBAD"), { name: "setbad" });
  assert.deepEqual(parse("StartLoop 2"), { name: "startloop", seconds: 2 });
});

Deno.test("parseCommand() ignores blanks around the command", () => {
  assert.deepEqual(parse("  quit  "), { name: "quit" });
  assert.deepEqual(parse("QUIT\t"), { name: "quit" });
  assert.deepEqual(parse("\tstartloop \t 7 "), {
    name: "startloop",
    seconds: 7,
  });
});

Deno.test("parseCommand() gives startloop the default duration without an argument", () => {
  assert.equal(DEFAULT_LOOP_SECONDS, 5);
  assert.deepEqual(parse("startloop"), { name: "startloop", seconds: 5 });
});

Deno.test("parseCommand() parses startloop 2", () => {
  assert.deepEqual(parse("startloop 2"), { name: "startloop", seconds: 2 });
});

Deno.test("parseCommand() parses startloop 0", () => {
  assert.deepEqual(parse("startloop 0"), { name: "startloop", seconds: 0 });
});

Deno.test("parseCommand() parses startloop 3600, the maximum", () => {
  assert.equal(MAX_LOOP_SECONDS, 3600);
  assert.deepEqual(parse("startloop 3600"), {
    name: "startloop",
    seconds: 3600,
  });
});

Deno.test("parseCommand() parses a fractional startloop duration", () => {
  assert.deepEqual(parse("startloop 0.5"), { name: "startloop", seconds: 0.5 });
});

Deno.test("parseCommand() returns an error for startloop 3601", () => {
  assert.deepEqual(parse("startloop 3601"), STARTLOOP_ERROR);
});

Deno.test("parseCommand() returns an error for startloop -1", () => {
  assert.deepEqual(parse("startloop -1"), STARTLOOP_ERROR);
});

Deno.test("parseCommand() returns an error for startloop abc", () => {
  assert.deepEqual(parse("startloop abc"), STARTLOOP_ERROR);
});

Deno.test("parseCommand() returns an error for startloop with an exponent or hex", () => {
  assert.deepEqual(parse("startloop 1e3"), STARTLOOP_ERROR);
  assert.deepEqual(parse("startloop 0x10"), STARTLOOP_ERROR);
});

Deno.test("parseCommand() echoes startloop with two arguments", () => {
  assert.deepEqual(parse("startloop 1 2"), { name: "echo" });
});

Deno.test("parseCommand() echoes unknown words", () => {
  for (const text of ["hello", "get status", "getstatu", "quitt", "?"]) {
    assert.deepEqual(parse(text), { name: "echo" }, text);
  }
});

Deno.test("parseCommand() echoes an empty or blank line", () => {
  assert.deepEqual(parse(""), { name: "echo" });
  assert.deepEqual(parse("   "), { name: "echo" });
});

Deno.test("parseCommand() echoes a simple command followed by a word", () => {
  assert.deepEqual(parse("getstatus now"), { name: "echo" });
  assert.deepEqual(parse("quit please"), { name: "echo" });
});

Deno.test("parseCommand() parses a padded command of exactly 64 bytes", () => {
  const line = "quit" + " ".repeat(60);
  assert.equal(line.length, 64);
  assert.deepEqual(parse(line), { name: "quit" });
});

Deno.test("parseCommand() echoes a line longer than 256 bytes", () => {
  const padded = "quit" + " ".repeat(253);
  assert.equal(padded.length, 257);
  assert.deepEqual(parse(padded), { name: "echo" });
  assert.deepEqual(parse("x".repeat(10_000)), { name: "echo" });
});

Deno.test("parseCommand() echoes invalid UTF-8 and NUL bytes", () => {
  assert.deepEqual(parseCommand(Uint8Array.of(0xff, 0xfe)), { name: "echo" });
  assert.deepEqual(parse("quit\0"), { name: "echo" });
});

Deno.test("parseCommand() reads fault commands with their spec", () => {
  assert.deepEqual(parse("fault delay ms=200 p=0.5"), {
    name: "fault",
    spec: "delay ms=200 p=0.5",
  });
  assert.deepEqual(parse("FAULT List"), { name: "fault", spec: "list" });
  assert.deepEqual(parse("fault"), { name: "echo" });
});

Deno.test("parseCommand() trims ASCII blanks only and folds ASCII case only", () => {
  const parse = (text: string) => parseCommand(new TextEncoder().encode(text));
  assert.deepEqual(parse("getstatus\u00a0"), { name: "echo" });
  assert.deepEqual(parse("\u3000setbad"), { name: "echo" });
  // U+212A KELVIN SIGN lower-cases to "k" in Unicode; not in a command.
  assert.deepEqual(parse("fault \u212Aill"), {
    name: "fault",
    spec: "\u212Aill",
  });
  assert.deepEqual(parse(" \t\vGetStatus\f\r"), { name: "getstatus" });
});

Deno.test("parseCommand() parses the agent commands", () => {
  for (const name of ["setdrain", "setready", "agentstatus"]) {
    assert.deepEqual(parse(name), { name }, name);
  }
  assert.deepEqual(parse("SetWeight 50"), { name: "setweight", percent: 50 });
  assert.deepEqual(parse("setweight 0"), { name: "setweight", percent: 0 });
  assert.deepEqual(parse("setmaxconn 30"), { name: "setmaxconn", maxconn: 30 });
});

Deno.test("parseCommand() refuses agent settings out of range", () => {
  const weightError: Command = {
    name: "error",
    message:
      `setweight: PERCENT must be an integer from 0 to ${MAX_WEIGHT_PERCENT}`,
  };
  for (const arg of ["", " -1", " 257", " 50%", " 1.5", " x", " 99999999"]) {
    assert.deepEqual(parse(`setweight${arg}`), weightError, arg);
  }
  assert.deepEqual(parse(`setmaxconn ${MAX_AGENT_MAXCONN + 1}`), {
    name: "error",
    message: `setmaxconn: N must be an integer from 0 to ${MAX_AGENT_MAXCONN}`,
  });
  assert.deepEqual(parse("setmaxconn 1 2"), { name: "echo" });
});
