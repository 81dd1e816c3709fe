/**
 * The seqnum protocol's server side (socket-takeover's): every 4-byte
 * big-endian sequence number received is echoed back as is. The protocol
 * is stateless; the count of seqnums echoed is kept as application state
 * and travels along a chain of handovers.
 *
 * @module
 */

import { formatHostPort } from "../common/mod.ts";
import { tcpkitLogger } from "../logging/mod.ts";
import type { JsonValue } from "./protocol.ts";
import type { ConnectionHandler, TakeoverConn } from "./takeover_conn.ts";

/** Bytes in one seqnum frame. */
export const SEQNUM_BYTES = 4;

const log = tcpkitLogger("takeover", "seqnum");

/** Options of {@linkcode SeqnumService}. */
export interface SeqnumServiceOptions {
  /**
   * Log every seqnum at debug level as the original did
   * (`[127.0.0.1]:57796 - seqnum:20`).
   * @default {false}
   */
  logSeqnums?: boolean;
}

/** The application state a seqnum server hands over. */
export interface SeqnumAppState {
  /** Seqnums echoed along the whole chain of processes. */
  echoed: number;
  /** Processes in the chain before this one. */
  generation: number;
}

/**
 * The seqnum echo service: a {@linkcode ConnectionHandler} plus the
 * application state it hands over.
 */
export class SeqnumService {
  /** Seqnums echoed by this process. */
  echoedHere = 0;
  /** Seqnums echoed by earlier processes of the chain. */
  echoedBefore = 0;
  /** Processes in the chain before this one. */
  generation = 0;
  readonly #logSeqnums: boolean;

  /**
   * Makes the service.
   *
   * @param options Logging.
   */
  constructor(options: SeqnumServiceOptions = {}) {
    this.#logSeqnums = options.logSeqnums ?? false;
  }

  /** The handler to serve with. */
  readonly handler: ConnectionHandler = {
    onOpen: (conn: TakeoverConn, restored: boolean): void => {
      if (!this.#logSeqnums) return;
      const peer = formatHostPort(
        conn.remoteAddr.hostname,
        conn.remoteAddr.port,
      );
      log.debug("{how} connection {id} with peer {peer}", {
        how: restored ? "taking over" : "starting",
        id: conn.id,
        peer,
      });
    },
    onData: (conn: TakeoverConn, data: Uint8Array): number => {
      const whole = data.length - (data.length % SEQNUM_BYTES);
      if (whole === 0) return 0;
      // Echo every whole frame at once; a partial one waits (and is handed
      // over as unread if a handover comes first).
      conn.write(data.subarray(0, whole));
      const frames = whole / SEQNUM_BYTES;
      this.echoedHere += frames;
      if (this.#logSeqnums) {
        const view = new DataView(data.buffer, data.byteOffset, whole);
        const peer = `[${conn.remoteAddr.hostname}]:${conn.remoteAddr.port}`;
        for (let i = 0; i < whole; i += SEQNUM_BYTES) {
          log.debug(`${peer} - seqnum:${view.getUint32(i)}`);
        }
      }
      return whole;
    },
    onClose: (conn: TakeoverConn, reason): void => {
      if (!this.#logSeqnums) return;
      log.debug("stopping connection {id} with peer {peer}: {reason}", {
        id: conn.id,
        peer: formatHostPort(conn.remoteAddr.hostname, conn.remoteAddr.port),
        reason,
      });
    },
  };

  /**
   * The state to hand over.
   *
   * @returns The counts.
   */
  snapshot(): JsonValue {
    return {
      echoed: this.echoedBefore + this.echoedHere,
      generation: this.generation + 1,
    } satisfies SeqnumAppState;
  }

  /**
   * Takes the state of the previous process.
   *
   * @param state What {@linkcode SeqnumService.snapshot} gave there.
   */
  restore(state: JsonValue): void {
    if (typeof state !== "object" || state === null || Array.isArray(state)) {
      return;
    }
    const { echoed, generation } = state;
    if (typeof echoed === "number") this.echoedBefore = echoed;
    if (typeof generation === "number") this.generation = generation;
  }
}
