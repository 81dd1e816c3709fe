/**
 * Signal handling the commands share: a listener that can be removed, and
 * the graceful-stop rule (the first SIGTERM/SIGINT drains; a deliberate
 * second one exits at once).
 */
import { ExitCode } from "./exit_codes.ts";

/** A second stop signal at least this long after the first forces the exit. */
export const FORCE_AFTER_MS = 1000;

/** Listens for `signal`; returns the function that stops listening. */
export function onSignal(signal: Deno.Signal, handler: () => void): () => void {
  Deno.addSignalListener(signal, handler);
  return () => Deno.removeSignalListener(signal, handler);
}

/** Options of {@linkcode onStopSignals}. */
export interface StopSignalOptions {
  /** Runs before the forced exit, e.g. to log or kill children. */
  onForce?: (signal: Deno.Signal) => void;
}

/**
 * Calls `stop` on the first of `signals`. A second one within
 * {@linkcode FORCE_AFTER_MS} is ignored: `deno task` and process groups can
 * deliver one kill twice at once. A later one calls `onForce` and exits 70.
 *
 * @returns The function that stops listening; once a stop has begun, it
 * makes the signals ignored instead, until the process exits.
 */
export function onStopSignals(
  signals: readonly Deno.Signal[],
  stop: (signal: Deno.Signal) => void,
  options: StopSignalOptions = {},
): () => void {
  let firstAt: number | undefined;
  let done = false;
  const cleanups = signals.map((signal) =>
    onSignal(signal, () => {
      if (done) return;
      const now = performance.now();
      if (firstAt === undefined) {
        firstAt = now;
        stop(signal);
      } else if (now - firstAt >= FORCE_AFTER_MS) {
        options.onForce?.(signal);
        Deno.exit(ExitCode.SOFTWARE);
      }
    })
  );
  return () => {
    if (firstAt !== undefined) {
      // Stopping already: keep ignoring these signals until the exit. Left
      // to their default action, a late copy (`deno task` passes on what a
      // process group already got) would kill the process mid-exit.
      done = true;
      return;
    }
    for (const cleanup of cleanups) cleanup();
  };
}
