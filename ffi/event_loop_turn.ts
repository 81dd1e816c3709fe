/**
 * One whole turn of Deno's event loop, on demand, for code that otherwise
 * keeps the JavaScript thread (an inline {@linkcode Reactor}).
 *
 * @module
 */

import { socketFdOf } from "./find_fd.ts";
import { epollFdsWatching } from "./runtime_epolls.ts";

/**
 * A doorbell on a loopback TCP pair that Deno itself owns. {@linkcode
 * EventLoopTurn.take} starts a read on one end and writes a byte on the
 * other; the read can only complete after Deno's runtime has polled its
 * I/O driver, so when it resolves, every signal, socket, pipe and due timer
 * that was ready has been taken in and its callbacks started.
 *
 * Cheaper waits do not do this: a `nonblocking` FFI call often completes
 * before Deno next looks, and is resolved without the I/O driver being
 * polled at all; a `setTimeout(0)` arms a timer whose re-arming wakes the
 * runtime again afterwards, so a loop of them never settles.
 *
 * Needs `--allow-net` for 127.0.0.1.
 */
export class EventLoopTurn {
  readonly #ringer: Deno.TcpConn;
  readonly #bell: Deno.TcpConn;
  readonly #byte = new Uint8Array(1);
  #closed = false;

  private constructor(ringer: Deno.TcpConn, bell: Deno.TcpConn) {
    this.#ringer = ringer;
    this.#bell = bell;
  }

  /**
   * Opens the loopback pair (a listener on 127.0.0.1 port 0 lives only
   * until the pair is connected).
   *
   * @throws {Deno.errors.NotCapable} Without `--allow-net` for 127.0.0.1.
   */
  static async open(): Promise<EventLoopTurn> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const accepted = listener.accept();
      const ringer = await Deno.connect({
        hostname: "127.0.0.1",
        port: listener.addr.port,
      }).catch(async (error) => {
        listener.close();
        await accepted.catch(() => {});
        throw error;
      });
      try {
        return new EventLoopTurn(ringer, await accepted);
      } catch (error) {
        ringer.close();
        throw error;
      }
    } finally {
      try {
        listener.close();
      } catch {
        // Closed above, after a failed connect.
      }
    }
  }

  /** Resolves after one turn of the event loop that polled its I/O driver. */
  async take(): Promise<void> {
    if (this.#closed) throw new Error("Cannot use a closed EventLoopTurn");
    // The read first: pending, it can only be woken through the I/O driver.
    const read = this.#bell.read(this.#byte);
    await this.#ringer.write(this.#byte);
    if ((await read) === null) {
      throw new Error("EventLoopTurn: the loopback pair closed");
    }
  }

  /**
   * The epoll fds of the runtime this turn belongs to (the one watching the
   * doorbell), leaving out `exclude`: in a process with several runtimes
   * (workers, parallel test modules), this thread's own.
   *
   * @throws {ErrnoError} When `/proc/self/fd` cannot be read.
   */
  runtimeEpollFds(exclude: Iterable<number> = []): number[] {
    return epollFdsWatching(socketFdOf(this.#bell), exclude);
  }

  /** Closes the pair. Safe to call twice; not while a turn is being taken. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ringer.close();
    this.#bell.close();
  }
}
