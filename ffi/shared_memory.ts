/**
 * A small memory region shared between related processes: a `memfd` mapped
 * `MAP_SHARED`, which a child reopens through `/proc/<pid>/fd/<fd>`.
 *
 * @module
 */

import {
  MAP_FAILED,
  MAP_SHARED,
  MFD_CLOEXEC,
  O_CLOEXEC,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  SEEK_END,
} from "./constants.ts";
import { check, errno, errnoError } from "./errno.ts";
import { libc } from "./libc.ts";
import { describe } from "./_validate.ts";

/** The largest region, in bytes: 2^31-1, so sizes stay small integers. */
const MAX_SIZE = 0x7fff_ffff;

/** memfd_create() takes at most 249 name bytes (NAME_MAX minus "memfd:"). */
const MAX_NAME_BYTES = 249;

const encoder = new TextEncoder();

/**
 * A region of memory shared with other processes through a file: writes by
 * any process that maps it are seen by all the others at once.
 *
 * {@linkcode SharedMemory.create} makes a new region from an anonymous
 * `memfd` and gives its {@linkcode SharedMemory.path} as
 * `/proc/<pid>/fd/<fd>`; a process of the same user (such as a child)
 * passes that path to {@linkcode SharedMemory.open} while the creator
 * lives and keeps the region open. Once both have it mapped, the creator
 * may go away: the memory lives while any process still maps it.
 *
 * The views are plain (non-shared) `ArrayBuffer`s over the mapping, so
 * `Atomics.load`, `store`, `add` and `compareExchange` work on
 * {@linkcode SharedMemory.int32}, but `Atomics.wait` does not. Without
 * atomics there is no ordering between processes beyond what the CPU gives.
 *
 * **Unsafe after close:** {@linkcode SharedMemory.close} unmaps the memory.
 * Do not keep views past it: the getters then throw, and views taken before
 * are detached (length 0, reads give `undefined`, writes are dropped) so that
 * they cannot touch unmapped memory — but do not rely on that as a feature.
 *
 * @example Share a counter with a child process
 * ```ts ignore
 * import { SharedMemory } from "./mod.ts";
 *
 * using shared = SharedMemory.create(4096);
 * Atomics.store(shared.int32, 0, 1);
 * // In the child: SharedMemory.open(path, 4096).int32[0] === 1
 * const child = new Deno.Command(Deno.execPath(), {
 *   args: ["run", "--allow-ffi", "child.ts", shared.path],
 * }).spawn();
 * await child.status;
 * ```
 */
export class SharedMemory {
  #fd: number;
  #pointer: Deno.PointerObject | null;
  #buffer: ArrayBuffer;
  #bytes: Uint8Array;
  #int32: Int32Array;
  #size: number;
  #path: string;

  private constructor(
    fd: number,
    pointer: Deno.PointerObject,
    size: number,
    path: string,
  ) {
    this.#fd = fd;
    this.#pointer = pointer;
    this.#size = size;
    this.#path = path;
    this.#buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, size);
    this.#bytes = new Uint8Array(this.#buffer);
    this.#int32 = new Int32Array(this.#buffer, 0, Math.floor(size / 4));
  }

  /**
   * Creates a new region of `size` zeroed bytes: `memfd_create(name,
   * MFD_CLOEXEC)`, `ftruncate(fd, size)`, then `mmap(NULL, size,
   * PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`.
   *
   * The fd is close-on-exec: a child does not inherit it, but opens
   * {@linkcode SharedMemory.path} instead.
   *
   * @param size The size in bytes, 1 to 2^31-1 (rounded up to whole pages
   * in memory, but the views cover exactly `size` bytes).
   * @param name The memfd's name, shown in `/proc/<pid>/fd` as
   * `/memfd:<name> (deleted)`; at most 249 bytes, no NUL.
   * @returns The region, mapped and ready.
   * @throws {TypeError | RangeError} On a bad `size` or `name`.
   * @throws {ErrnoError} When a call fails (EMFILE, ENOMEM, ...).
   */
  static create(size: number, name = "tcpkit"): SharedMemory {
    validateSize(size);
    if (typeof name !== "string" || name.includes("\0")) {
      throw new TypeError(
        `Invalid memfd name: expected a string without NUL, got ${
          typeof name === "string" ? JSON.stringify(name) : describe(name)
        }`,
      );
    }
    const nameBytes = encoder.encode(`${name}\0`);
    if (nameBytes.byteLength - 1 > MAX_NAME_BYTES) {
      throw new RangeError(
        `Invalid memfd name: at most ${MAX_NAME_BYTES} bytes, got ${
          nameBytes.byteLength - 1
        }`,
      );
    }
    const c = libc();
    const fd = check(
      c.memfd_create(nameBytes, MFD_CLOEXEC),
      "memfd_create",
      JSON.stringify(name),
    );
    try {
      check(c.ftruncate(fd, BigInt(size)), "ftruncate", `fd ${fd} to ${size}`);
      const pointer = map(fd, size);
      return new SharedMemory(fd, pointer, size, `/proc/${Deno.pid}/fd/${fd}`);
    } catch (error) {
      c.close(fd);
      throw error;
    }
  }

  /**
   * Maps an existing region, such as one a parent made with
   * {@linkcode SharedMemory.create}: `open(path, O_RDWR | O_CLOEXEC)`, a
   * size check with `lseek(fd, 0, SEEK_END)`, then `mmap(... MAP_SHARED
   * ...)` of the first `size` bytes.
   *
   * Opening `/proc/<pid>/fd/<fd>` of another process needs the same user
   * (the kernel's ptrace read check), and that process must still have the
   * fd open.
   *
   * @param path The file, normally another region's {@linkcode SharedMemory.path}.
   * @param size How many bytes to map, 1 to 2^31-1; the file must be at
   * least this long.
   * @returns The region.
   * @throws {TypeError | RangeError} On a bad `path` or `size`.
   * @throws {RangeError} When the file is shorter than `size`.
   * @throws {ErrnoError} When a call fails, such as `open()` with ENOENT
   * (no such file, or the creator has exited) or EACCES.
   */
  static open(path: string, size: number): SharedMemory {
    if (typeof path !== "string" || path === "" || path.includes("\0")) {
      throw new TypeError(
        `Invalid path: expected a non-empty string without NUL, got ${
          typeof path === "string" ? JSON.stringify(path) : describe(path)
        }`,
      );
    }
    validateSize(size);
    const c = libc();
    const fd = check(
      c.open(encoder.encode(`${path}\0`), O_RDWR | O_CLOEXEC, 0),
      "open",
      path,
    );
    try {
      const length = check(c.lseek(fd, 0n, SEEK_END), "lseek", path);
      if (length < size) {
        throw new RangeError(
          `Cannot map ${size} bytes of ${path}: the file has only ${length}`,
        );
      }
      const pointer = map(fd, size);
      return new SharedMemory(fd, pointer, size, path);
    } catch (error) {
      c.close(fd);
      throw error;
    }
  }

  /**
   * The region's bytes.
   *
   * @returns A view of exactly {@linkcode SharedMemory.size} bytes; the same
   * object on every call.
   * @throws {Deno.errors.BadResource} After {@linkcode SharedMemory.close}.
   */
  get bytes(): Uint8Array {
    this.#assertOpen();
    return this.#bytes;
  }

  /**
   * The region as 32-bit integers (native byte order), for `Atomics`.
   *
   * @returns A view of `Math.floor(size / 4)` elements; the same object on
   * every call.
   * @throws {Deno.errors.BadResource} After {@linkcode SharedMemory.close}.
   */
  get int32(): Int32Array {
    this.#assertOpen();
    return this.#int32;
  }

  /**
   * The path another process passes to {@linkcode SharedMemory.open}:
   * `/proc/<pid>/fd/<fd>` for a region made by
   * {@linkcode SharedMemory.create}, else the path it was opened from.
   *
   * @returns The path.
   * @throws {Deno.errors.BadResource} After {@linkcode SharedMemory.close}.
   */
  get path(): string {
    this.#assertOpen();
    return this.#path;
  }

  /**
   * The size of the mapping in bytes.
   *
   * @returns The size passed to `create()` or `open()`.
   * @throws {Deno.errors.BadResource} After {@linkcode SharedMemory.close}.
   */
  get size(): number {
    this.#assertOpen();
    return this.#size;
  }

  /**
   * Unmaps the memory and closes the fd; safe to call more than once.
   * Views from {@linkcode SharedMemory.bytes} and
   * {@linkcode SharedMemory.int32} are detached first (length 0) so they
   * cannot reach unmapped memory. Other processes keep their mappings.
   */
  close(): void {
    const pointer = this.#pointer;
    if (pointer === null) return;
    this.#pointer = null;
    // Detach every view of the external buffer before the memory goes; the
    // zero-length copy never touches the mapping.
    this.#buffer.transfer(0);
    const c = libc();
    c.munmap(pointer, BigInt(this.#size));
    c.close(this.#fd);
    this.#fd = -1;
  }

  /** Calls {@linkcode SharedMemory.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#pointer === null) {
      throw new Deno.errors.BadResource("SharedMemory is closed");
    }
  }
}

function validateSize(size: unknown): asserts size is number {
  if (typeof size !== "number") {
    throw new TypeError(
      `Invalid size: expected a number, got ${describe(size)}`,
    );
  }
  if (!Number.isInteger(size) || size < 1 || size > MAX_SIZE) {
    throw new RangeError(
      `Invalid size: expected an integer from 1 to ${MAX_SIZE}, got ${size}`,
    );
  }
}

/** `mmap()`s the first `size` bytes of `fd`, shared, read and write. */
function map(fd: number, size: number): Deno.PointerObject {
  const pointer = libc().mmap(
    null,
    BigInt(size),
    PROT_READ | PROT_WRITE,
    MAP_SHARED,
    fd,
    0n,
  );
  if (Deno.UnsafePointer.value(pointer) === MAP_FAILED) {
    // Read errno before anything else can run and overwrite it.
    throw errnoError(errno(), "mmap", `${size} bytes of fd ${fd}`);
  }
  if (pointer === null) {
    throw new Error(`Cannot mmap ${size} bytes of fd ${fd}: got NULL`);
  }
  return pointer;
}
