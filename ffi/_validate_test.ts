import assert from "node:assert/strict";
import { describe, validateFd, validateInt32 } from "./_validate.ts";

Deno.test("validateFd() accepts integers from 0 to 2^31-1", () => {
  validateFd(0);
  validateFd(7);
  validateFd(0x7fff_ffff);
});

Deno.test("validateFd() throws TypeError for non-integers", () => {
  assert.throws(() => validateFd(1.5), TypeError);
  assert.throws(() => validateFd("3"), TypeError);
  assert.throws(() => validateFd(3n), TypeError);
  assert.throws(() => validateFd(NaN), TypeError);
});

Deno.test("validateFd() throws RangeError for negative or huge fds", () => {
  assert.throws(() => validateFd(-1), RangeError);
  assert.throws(() => validateFd(2 ** 31), RangeError);
});

Deno.test("validateInt32() accepts the C int range, -0 included", () => {
  validateInt32(-(2 ** 31), "x");
  validateInt32(2 ** 31 - 1, "x");
  validateInt32(-0, "x");
});

Deno.test("validateInt32() throws RangeError out of range and TypeError for non-numbers", () => {
  assert.throws(() => validateInt32(2 ** 31, "value"), {
    name: "RangeError",
    message:
      "Invalid value: expected an integer from -2147483648 to 2147483647, got 2147483648",
  });
  assert.throws(() => validateInt32(0.5, "value"), RangeError);
  assert.throws(() => validateInt32(Infinity, "value"), RangeError);
  assert.throws(() => validateInt32("1", "value"), TypeError);
});

Deno.test("describe() names values without dumping them", () => {
  assert.equal(describe(1.5), "1.5");
  assert.equal(describe(2n), "2");
  assert.equal(describe(null), "null");
  assert.equal(describe({ secret: 1 }), "a value of type object");
});
