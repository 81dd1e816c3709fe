import assert from "node:assert/strict";
import { commandPrologue } from "./command_prologue.ts";
import { UsageError } from "./usage_error.ts";

interface Cli {
  help: boolean;
  version: boolean;
  value: string;
}

function parse(args: string[]): Cli {
  if (args.includes("--bad")) throw new UsageError("Unknown option '--bad'");
  return {
    help: args.includes("-h"),
    version: args.includes("-V"),
    value: args[0] ?? "",
  };
}

const command = { name: "demo", usage: "USAGE: demo\n", parse };

Deno.test("commandPrologue() returns the parsed command line when the command should run", () => {
  assert.deepEqual(commandPrologue(command, ["x"]), {
    help: false,
    version: false,
    value: "x",
  });
});

Deno.test("commandPrologue() answers --help and --version with exit 0", () => {
  assert.equal(commandPrologue(command, ["-h"]), 0);
  assert.equal(commandPrologue(command, ["-V"]), 0);
});

Deno.test("commandPrologue() answers a usage error with exit 64", () => {
  assert.equal(commandPrologue(command, ["--bad"]), 64);
});

Deno.test("commandPrologue() lets other errors through", () => {
  const broken = {
    ...command,
    parse: (): Cli => {
      throw new RangeError("boom");
    },
  };
  assert.throws(() => commandPrologue(broken, []), RangeError);
});
