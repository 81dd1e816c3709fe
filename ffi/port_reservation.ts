/**
 * Holding a TCP port for a group of `SO_REUSEPORT` listeners with a socket
 * that is bound but never listens, so it never receives connections.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { bindTcp } from "./raw_socket.ts";
import { setSocketOption } from "./socket_options.ts";

/**
 * A TCP port held by a bound, non-listening socket with `SO_REUSEPORT`, so
 * that listeners with `SO_REUSEPORT` (such as `Deno.listen({ reusePort:
 * true })`, which needs `--unstable-net`) of the same user can come and go
 * on it while no other program takes it. The kernel gives connections only
 * to listening sockets, so the reservation never receives one: with no
 * listener in the group, connections are refused.
 *
 * Measured on Linux 6.18: `SO_REUSEADDR` must be off on the reservation
 * once bound, or a plain listener (Deno's always set `SO_REUSEADDR`) may
 * bind and listen on the port beside it. So {@linkcode PortReservation.reserve}
 * binds with `SO_REUSEADDR` on, which lets it take a port that
 * still has connections in TIME-WAIT, as Deno's listeners can, then turns
 * it off. A plain listener on the port then fails with `AddrInUse`.
 *
 * @example Keep a port while workers restart
 * ```ts ignore
 * import { PortReservation } from "./mod.ts";
 *
 * using reservation = PortReservation.reserve("127.0.0.1", 0);
 * const port = reservation.port;
 * // Workers (any process of this user) listen with reusePort: true on port;
 * // between their restarts the port stays ours, and clients are refused.
 * ```
 */
export class PortReservation {
  #fd: number;
  #port: number;

  private constructor(fd: number, port: number) {
    this.#fd = fd;
    this.#port = port;
  }

  /**
   * Reserves `hostname:port`: a socket of the address's family with
   * `SO_REUSEADDR` and `SO_REUSEPORT`, bound, then `SO_REUSEADDR` cleared
   * (see {@linkcode PortReservation}); never `listen()`s. For `"::"`
   * `IPV6_V6ONLY` is cleared so that, like Deno's dual-stack listener, it
   * holds the port for IPv4 too.
   *
   * @param hostname An IP literal such as `"127.0.0.1"`, `"0.0.0.0"`,
   * `"::1"` or `"::"` (not a host name).
   * @param port The port, 0 to 65535; 0 picks a free one (read
   * {@linkcode PortReservation.port}).
   * @returns The reservation.
   * @throws {TypeError} When `hostname` is not an IP literal.
   * @throws {RangeError} When `port` is not an integer in 0…65535.
   * @throws {Deno.errors.AddrInUse} When a socket without `SO_REUSEPORT`
   * (or another user's) holds the port.
   * @throws {Deno.errors.AddrNotAvailable} When `hostname` is not an
   * address of this host.
   * @throws {ErrnoError} When another call fails, such as `socket()` with
   * EAFNOSUPPORT where IPv6 is disabled.
   */
  static reserve(hostname: string, port: number): PortReservation {
    const { fd, address } = bindTcp({
      hostname,
      port,
      reuseAddr: true,
      reusePort: true,
      then: (fd) => setSocketOption(fd, "SO_REUSEADDR", 0),
    });
    return new PortReservation(fd, address.port);
  }

  /**
   * The reserved port: the one asked for, or the one the kernel chose for
   * port 0 (read back with `getsockname()` when reserved).
   *
   * @returns The port, 1 to 65535; still the same after close.
   */
  get port(): number {
    return this.#port;
  }

  /** Releases the port (closes the socket); safe to call more than once. */
  close(): void {
    if (this.#fd < 0) return;
    libc().close(this.#fd);
    this.#fd = -1;
  }

  /** Calls {@linkcode PortReservation.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
