import assert from "node:assert/strict";
import { acceptErrorAction } from "./accept_error.ts";

Deno.test("acceptErrorAction() goes on at once after a connection died in the backlog", () => {
  for (
    const error of [
      new Deno.errors.NotConnected("getpeername"),
      new Deno.errors.ConnectionAborted("accept"),
      new Deno.errors.ConnectionReset("accept"),
    ]
  ) {
    assert.equal(acceptErrorAction(error), "next", error.name);
  }
});

Deno.test("acceptErrorAction() backs off when resources run out, or on anything unknown", () => {
  assert.equal(
    acceptErrorAction(new Error("Too many open files (os error 24)")),
    "back-off",
  );
  assert.equal(
    acceptErrorAction(new Deno.errors.PermissionDenied()),
    "back-off",
  );
  assert.equal(acceptErrorAction("weird"), "back-off");
});
