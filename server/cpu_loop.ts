/**
 * Burning one CPU core for a while, off the main thread, so the server keeps
 * serving its other clients during a `startloop`.
 */

// The worker is built from a Blob so it works the same under `deno run`,
// `deno compile` and `jsr:` URLs, with no extra file to ship.
const WORKER_SOURCE = `
self.onmessage = (event) => {
  const start = performance.now();
  const end = start + event.data;
  let x = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 10000; i++) x = (x + i * 7) % 1000003;
  }
  self.postMessage({ ms: performance.now() - start, x });
};
`;

let workerUrl: string | undefined;

/**
 * Keeps one core busy for `seconds` in a Web Worker. Resolves to the time
 * the loop ran, measured in the worker (so a slow worker start-up on a busy
 * machine does not count), in seconds; an abort ends the loop early.
 */
export function burnCpu(
  seconds: number,
  signal?: AbortSignal,
): Promise<number> {
  if (!(seconds >= 0)) throw new RangeError(`Invalid seconds: ${seconds}`);
  workerUrl ??= URL.createObjectURL(
    new Blob([WORKER_SOURCE], { type: "application/javascript" }),
  );
  const started = performance.now();
  const worker = new Worker(workerUrl, { type: "module" });
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  // The loop's own time when it ends; the time so far when cut short.
  const finish = (event?: MessageEvent<{ ms: number }>) => {
    worker.terminate();
    signal?.removeEventListener("abort", onAbort);
    resolve((event?.data.ms ?? performance.now() - started) / 1000);
  };
  const onAbort = () => finish();
  worker.onmessage = finish;
  worker.onerror = (event) => {
    event.preventDefault();
    worker.terminate();
    signal?.removeEventListener("abort", onAbort);
    reject(new Error(`CPU loop failed: ${event.message}`));
  };
  if (signal?.aborted) finish();
  else {
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.postMessage(seconds * 1000);
  }
  return promise;
}
