/**
 * The worker side of master + N workers: tell the master "ready", and
 * notice when the master is gone (its end of our stdin closes, even if it
 * was killed with SIGKILL) so no worker is ever left orphaned.
 */
import { READY_LINE } from "./worker_supervisor.ts";

/** Tells the master that this worker accepts connections. */
export function announceReady(): void {
  const bytes = new TextEncoder().encode(`${READY_LINE}\n`);
  let offset = 0;
  while (offset < bytes.length) {
    offset += Deno.stdout.writeSync(bytes.subarray(offset));
  }
}

/**
 * Calls `onGone` once the master's end of stdin closes. The pending read
 * keeps nothing alive that a server would not keep alive anyway.
 */
export function watchMaster(onGone: () => void): void {
  const buf = new Uint8Array(64);
  (async () => {
    try {
      while ((await Deno.stdin.read(buf)) !== null) {
        // The master never writes; anything read is ignored.
      }
    } catch {
      // A broken stdin means the same: the master is gone.
    }
    onGone();
  })();
}
