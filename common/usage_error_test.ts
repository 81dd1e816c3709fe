import assert from "node:assert/strict";
import { parseNumberOption, UsageError } from "./usage_error.ts";

Deno.test("UsageError has the name UsageError and keeps its cause", () => {
  const cause = new Error("inner");
  const error = new UsageError("Bad flag", { cause });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "UsageError");
  assert.equal(error.message, "Bad flag");
  assert.equal(error.cause, cause);
});

Deno.test("parseNumberOption() parses an integer", () => {
  assert.equal(parseNumberOption("--max-conns", "10000"), 10000);
  assert.equal(parseNumberOption("--max-conns", "0"), 0);
});

Deno.test("parseNumberOption() rejects a fraction unless fractional is set", () => {
  assert.throws(() => parseNumberOption("--max-conns", "0.5"), {
    name: "UsageError",
    message: /--max-conns.*an integer.*"0\.5"/,
  });
});

Deno.test("parseNumberOption() parses a fraction when fractional is set", () => {
  assert.equal(
    parseNumberOption("--timeout", "0.5", { fractional: true }),
    0.5,
  );
  assert.equal(
    parseNumberOption("--timeout", ".25", { fractional: true }),
    0.25,
  );
  assert.equal(parseNumberOption("--timeout", "3", { fractional: true }), 3);
});

Deno.test("parseNumberOption() accepts values on the bounds", () => {
  assert.equal(parseNumberOption("--n", "16", { min: 16, max: 32 }), 16);
  assert.equal(parseNumberOption("--n", "32", { min: 16, max: 32 }), 32);
});

Deno.test("parseNumberOption() throws UsageError below min", () => {
  assert.throws(
    () => parseNumberOption("--max-line", "15", { min: 16, max: 32 }),
    {
      name: "UsageError",
      message: /--max-line.*15.*out of range \(16 to 32\)/,
    },
  );
});

Deno.test("parseNumberOption() throws UsageError above max", () => {
  assert.throws(
    () => parseNumberOption("--max-line", "33", { min: 16, max: 32 }),
    {
      name: "UsageError",
      message: /--max-line.*33.*out of range/,
    },
  );
});

Deno.test("parseNumberOption() throws UsageError for a negative value by default", () => {
  assert.throws(() => parseNumberOption("--n", "-1"), {
    name: "UsageError",
    message: /--n/,
  });
});

Deno.test("parseNumberOption() throws UsageError for an exponent", () => {
  assert.throws(() => parseNumberOption("--n", "1e3"), {
    name: "UsageError",
    message: /--n/,
  });
  assert.throws(
    () => parseNumberOption("--n", "1e3", { fractional: true }),
    UsageError,
  );
});

Deno.test("parseNumberOption() throws UsageError for hex", () => {
  assert.throws(() => parseNumberOption("--n", "0x10"), {
    name: "UsageError",
    message: /--n/,
  });
});

Deno.test("parseNumberOption() throws UsageError for an empty value", () => {
  assert.throws(() => parseNumberOption("--n", ""), {
    name: "UsageError",
    message: /--n/,
  });
});

Deno.test("parseNumberOption() throws UsageError for a value with blanks around it", () => {
  // The whole text must be the number ("strictly"), so " 5 " is not 5.
  assert.throws(() => parseNumberOption("--n", " 5 "), {
    name: "UsageError",
    message: /--n/,
  });
});

Deno.test("parseNumberOption() throws UsageError for a missing value", () => {
  assert.throws(() => parseNumberOption("--n", undefined), {
    name: "UsageError",
    message: /--n.*got ""/,
  });
});

Deno.test("parseNumberOption() throws UsageError for words, Infinity and NaN", () => {
  for (const text of ["abc", "Infinity", "NaN", "5abc", "1,000", "--5"]) {
    assert.throws(
      () => parseNumberOption("--n", text, { fractional: true }),
      UsageError,
      text,
    );
  }
});
