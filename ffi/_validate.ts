// Argument checks shared by the ffi/ wrappers: bad arguments throw
// TypeError (wrong type) or RangeError (right type, out of range) before any
// libc call sees them, since an `i32` parameter would otherwise reject them
// with a less helpful message, or C would act on a wrapped-around value.

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;

/**
 * Throws unless `fd` is an integer in 0…2^31-1.
 *
 * @param fd The file descriptor to check.
 */
export function validateFd(fd: unknown): asserts fd is number {
  if (typeof fd !== "number" || !Number.isInteger(fd)) {
    throw new TypeError(`Invalid fd: expected an integer, got ${describe(fd)}`);
  }
  if (fd < 0 || fd > INT32_MAX) {
    throw new RangeError(`Invalid fd: expected 0 to ${INT32_MAX}, got ${fd}`);
  }
}

/**
 * Throws unless `value` is an integer in the C `int` range.
 *
 * @param value The value to check.
 * @param name What the value is, for the message.
 */
export function validateInt32(
  value: unknown,
  name: string,
): asserts value is number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${describe(value)}`,
    );
  }
  if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
    throw new RangeError(
      `Invalid ${name}: expected an integer from ${INT32_MIN} to ${INT32_MAX}, got ${value}`,
    );
  }
}

/**
 * Describes a value for an error message without dumping objects.
 *
 * @param value Any value.
 * @returns A short description such as `"1.5"` or `"a string"`.
 */
export function describe(value: unknown): string {
  if (typeof value === "number" || typeof value === "bigint") {
    return String(value);
  }
  if (value === null) return "null";
  return `a value of type ${typeof value}`;
}
