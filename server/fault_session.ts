/**
 * Runs a connection handler under the connection's faults: the ones that
 * strike at once, the ones that stop reading or replying, and `leak`.
 */
import { tcpkitLogger } from "../logging/mod.ts";
import { FaultEndedError } from "./conn_faults.ts";
import type { ServerConn } from "./server_conn.ts";
import type { ConnectionHandler } from "./tcp_server.ts";

const log = tcpkitLogger("fault");

async function discardUntilEof(conn: ServerConn): Promise<void> {
  const sink = new Uint8Array(4096);
  while ((await conn.read(sink)) !== null) {
    // hang and halfclose read on, so a peer's close is still seen.
  }
}

/**
 * Wraps `inner`: connections without faults go straight to it; the others
 * get their faults first. A fault never throws out of here, so a fault
 * cannot take the server down (except `crash`, on purpose).
 */
export function withFaults(inner: ConnectionHandler): ConnectionHandler {
  return async function faulty(conn: ServerConn): Promise<void> {
    const faults = conn.faults;
    if (faults === undefined) return await inner(conn);
    faults.announce(conn);
    if (!(await faults.open(conn))) return;
    if (faults.zeroWindow) {
      // Never read: the peer's writes fill our receive window, then its send buffer.
      conn.busy = true;
      await conn.whenDraining();
      return;
    }
    try {
      if (faults.hang) {
        conn.busy = true;
        await discardUntilEof(conn);
      } else {
        await inner(conn);
      }
    } catch (error) {
      if (!(error instanceof FaultEndedError)) throw error;
      return;
    }
    if (faults.leak && conn.eof) {
      // Keep our end open: the socket stays in CLOSE_WAIT until we drain.
      log.info(
        "connection {id} from {peer}: peer closed, leaking our end (CLOSE_WAIT)",
        {
          id: conn.id,
          peer: conn.peer,
        },
      );
      conn.busy = true;
      await conn.whenDraining();
    }
  };
}
