/**
 * Runs a connection handler under the connection's faults: the ones that
 * strike at once, the ones that stop reading or replying, and `leak`.
 */
import { tcpkitLogger } from "../logging/mod.ts";
import { FaultEndedError, setFaultsOf } from "./conn_faults.ts";
import type { FaultSet } from "./fault_set.ts";
import type { ServerConn } from "../net/server_conn.ts";
import type { ConnectionHandler } from "../net/tcp_server.ts";

const log = tcpkitLogger("fault");

/** Reads and drops until the peer closes: `hang` still sees the close. */
export async function discardUntilEof(conn: ServerConn): Promise<void> {
  const sink = new Uint8Array(4096);
  while ((await conn.read(sink)) !== null) {
    // hang and halfclose read on, so a peer's close is still seen.
  }
}

/**
 * Wraps `inner`: each new connection draws its faults from `faultSet`;
 * connections without faults go straight to `inner`, the others get their
 * faults first. A fault never throws out of here, so a fault
 * cannot take the server down (except `crash`, on purpose).
 */
export function withFaults(
  inner: ConnectionHandler,
  faultSet: FaultSet,
  maxConns = 0,
): ConnectionHandler {
  // Leaked sockets may take at most half the connection table, so a
  // control client can always get in to send `fault clear`.
  const leakCeiling = maxConns > 0 ? Math.max(1, maxConns >> 1) : Infinity;
  return async function faulty(conn: ServerConn): Promise<void> {
    // Drawn as the connection starts, from the faults the server has now.
    const faults = faultSet.forNewConnection();
    if (faults === undefined) return await inner(conn);
    setFaultsOf(conn, faults);
    const clears = faultSet.clears;
    faults.announce(conn);
    if (!(await faults.open(conn))) return;
    if (faults.zeroWindow) {
      // Never read: the peer's writes fill our receive window, then its
      // send buffer; until a drain or a clear, as a leak.
      conn.busy = true;
      await Promise.race([conn.whenDraining(), faultSet.whenCleared()]);
      return;
    }
    try {
      if (faults.hang) {
        // Until the peer closes, or a clear (SIGHUP) lets the operator in.
        conn.busy = true;
        await Promise.race([discardUntilEof(conn), faultSet.whenCleared()]);
      } else {
        await inner(conn);
      }
    } catch (error) {
      if (!(error instanceof FaultEndedError)) throw error;
      return;
    }
    if (
      faults.leak && conn.eof && faultSet.clears === clears &&
      faultSet.holdLeak(Math.min(faults.leakMax, leakCeiling))
    ) {
      // Keep our end open: the socket stays in CLOSE_WAIT.
      log.info(
        "connection {id} from {peer}: peer closed, leaking our end (CLOSE_WAIT)",
        {
          id: conn.id,
          peer: conn.peer,
        },
      );
      conn.busy = true;
      try {
        // Until a drain, or until `fault clear` (or SIGHUP) ends the leak.
        await Promise.race([conn.whenDraining(), faultSet.whenCleared()]);
      } finally {
        faultSet.releaseLeak();
      }
    }
  };
}
