/**
 * The process's effective user id, from `geteuid()`.
 *
 * @module
 */

import { libc } from "./libc.ts";

/**
 * Returns the effective user id of this process: the uid the kernel checks
 * permissions against and reports to a Unix-socket peer (`SO_PEERCRED`).
 *
 * Why not `Deno.uid()`: that is the real uid (it differs under setuid),
 * and it needs `--allow-sys` besides `--allow-ffi`.
 *
 * @returns The effective uid; `geteuid()` cannot fail.
 */
export function effectiveUid(): number {
  return libc().geteuid();
}
