/**
 * Zero-downtime handover of a TCP server — its listening socket **and its
 * live connections** — from an old process to a new one, over a Unix socket
 * with `SCM_RIGHTS`. HAProxy, nginx, Envoy and tableflip hand over listeners
 * only; here established connections move too, with the bytes read but not
 * yet answered, the reply bytes not yet sent, and the application's state,
 * and nothing is lost.
 *
 * ## The contract
 *
 * A {@linkcode TakeoverServer} owns its sockets as raw fds (created and
 * accepted through libc, never through `Deno.listen`, whose `close()` sends a
 * FIN) and serves them through an epoll reactor. Every read is a synchronous
 * `read()`, so at any moment the process knows exactly what it has taken
 * from each socket. {@linkcode TakeoverServer.offer} listens on a Unix
 * socket at PATH; a new process calls {@linkcode TakeoverServer.takeOver}
 * with PATH. The handover protocol, step by step:
 *
 * 0. **Ask.** The new process connects and, before it sends or believes
 *    anything, checks who listens there: the uid (`SO_PEERCRED`) must be
 *    its own effective uid, or root; otherwise it refuses (whoever can
 *    listen at PATH could hand it sockets and state of their own making).
 *    It sends `hello`. The old process serves only a peer whose uid is its
 *    own effective uid, or root; anyone else gets `refused`, and the refusal
 *    is logged. PATH is created with mode 0600 (bound under a temporary
 *    name, `chmod`ed, then given the name PATH, so it never exists with
 *    looser permissions), so other users cannot even connect; it replaces
 *    only a stale socket file, never a file, a directory, or a server still
 *    listening there. The old process answers `prepare` with the number of
 *    sockets; the new process makes room for them in its fd table and warms
 *    up, then answers `ready`. Nothing has paused yet. Askers are served
 *    side by side, each bounded in time (`hello` within 1 s), so a silent
 *    one holds up no other; frames from an asker are capped at 4 KiB.
 * 1. **The old process stops accepting.** Connections that arrive from now
 *    on wait in the listener's queue, which belongs to the kernel socket and
 *    moves with it: none is refused (size the queue with the backlog).
 * 2. **It finishes the reply in flight on each connection, then stops
 *    reading.** A handler marks a reply computed asynchronously with
 *    `conn.beginReply()`; the handover waits for those. Input already read
 *    that the handler has not consumed stays that connection's *unread*
 *    bytes (a partial 4-byte frame, a partial line). Reply bytes the kernel
 *    has not taken (a full send buffer) stay its *unsent* bytes: a slow
 *    reader cannot hold the handover up.
 * 3. **It sends the fds and the state, and waits for the new process's
 *    acknowledgement.** Frames of at most 253 fds (Linux's `SCM_MAX_FD`),
 *    listeners first, each with at least one data byte and a JSON
 *    description of its sockets (addresses, `SO_COOKIE`, unread and unsent
 *    bytes in base64, per-connection state); each connection is described
 *    just before its frame goes. Then an `end` frame with the totals and the
 *    application state. The new process receives with `MSG_CMSG_CLOEXEC`,
 *    fails on `MSG_CTRUNC`, checks that every fd is the kind of socket
 *    described (TCP over IPv4 or IPv6, listening or not: `SO_DOMAIN`,
 *    `SO_TYPE`, `SO_PROTOCOL`, `SO_ACCEPTCONN`) and the very socket
 *    described (its `SO_COOKIE`), sets `O_NONBLOCK` on each itself, and
 *    answers `ack`. A frame is at most 64 MiB; batches are cut at 16 MiB of
 *    descriptions, so only one connection with more unread and unsent
 *    bytes than that travels alone.
 * 4. **Only then does the old process close its copies and exit.** It
 *    answers `commit`, closes its copies with `close()` alone — never
 *    `shutdown()`: no FIN is sent, the sockets live on in the new process —
 *    and {@linkcode TakeoverServer.finished} resolves to `"handed-over"`.
 *    The new process starts serving on `commit`: each connection's unsent
 *    bytes first, then its unread bytes as if just read. It may then
 *    {@linkcode TakeoverServer.offer} PATH in turn, so handovers chain.
 *
 * Only one process reads a socket at any time: the old one stops before it
 * sends, the new one starts after `commit`. **Rollback:** if the new process
 * dies, breaks the protocol, or does not acknowledge within the handover
 * timeout (default 5 s, counted from the pause), the old process — which
 * never closed anything — resumes reading every connection and accepting,
 * and logs that it rolled back. The new process, if alive, sees no
 * `commit`, closes its copies (again without a FIN) and fails. One takeover
 * runs at a time: an asker that is ready while one is under way is refused,
 * and so is every asker once one has committed.
 *
 * Every frame is an 8-byte header (payload length and fd count, u32
 * big-endian) and a UTF-8 JSON payload; see `protocol.ts` for the messages.
 *
 * ## Caveats
 *
 * - Linux only (epoll, `SO_PEERCRED`, `SO_COOKIE`), glibc, x86_64/aarch64;
 *   it needs `--allow-ffi`, which is full access in practice.
 * - A new process that acknowledges and dies before it reads `commit` takes
 *   the connections with it: after `ack` there is no way back (the window
 *   every fd-passing scheme has).
 * - Handlers are synchronous and push-based ({@linkcode ConnectionHandler}):
 *   they get the unconsumed input and say how much they consumed. State to
 *   move must be JSON (`conn.state`, `offer({ appState })`); anything else
 *   only in the old process's memory (TLS sessions, timers) does not move.
 * - Clients see a pause, not an error: about 10–20 ms at 1,000 connections
 *   on a 2-core VM (see `deno task bench:takeover`). Growing a multi-threaded
 *   process's fd table waits for an RCU grace period (~10 ms per doubling),
 *   and a fresh V8 runs FFI calls slowly until it optimises them; both are
 *   done during step 0, before anything pauses.
 * - Connections accepted during the handover wait; with a full listen queue
 *   the kernel drops SYNs (clients retry after 1 s), it does not refuse.
 *
 * @example Hand a line server with GOOD/BAD state from one process to the next
 * ```ts ignore
 * import { TakeoverServer } from "@tcpkit/tcpkit/takeover";
 *
 * let health = "GOOD";
 * const encoder = new TextEncoder();
 * const handler = {
 *   onData(conn, data) {
 *     let consumed = 0;
 *     for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, consumed)) {
 *       const line = new TextDecoder().decode(data.subarray(consumed, nl)).trim();
 *       if (line === "setbad" || line === "setgood") health = line.slice(3).toUpperCase();
 *       conn.write(encoder.encode(`${health}\n`));
 *       consumed = nl + 1;
 *     }
 *     return consumed; // a partial line stays, and is handed over
 *   },
 * };
 * const from = Deno.env.get("TAKEOVER_FROM");
 * const server = from
 *   ? await TakeoverServer.takeOver(from, {
 *     handler,
 *     restore: (state) => health = (state as { health: string }).health,
 *   })
 *   : TakeoverServer.listen({ hostname: "0.0.0.0", port: 1971, handler });
 * server.offer("/run/linesrv/takeover.sock", { appState: () => ({ health }) });
 * await server.finished; // "handed-over": exit
 * ```
 *
 * @module
 */

export {
  type OfferOptions,
  type ServerOutcome,
  type TakeoverInfo,
  type TakeoverListenOptions,
  type TakeOverOptions,
  TakeoverServer,
  type TakeoverServerOptions,
} from "./takeover_server.ts";
export type {
  CloseReason,
  ConnectionHandler,
  TakeoverConn,
} from "./takeover_conn.ts";
export type { TakeoverEvent } from "./handover_offer.ts";
export {
  TakeoverAbortedError,
  TakeoverError,
  TakeoverProtocolError,
  TakeoverRefusedError,
  TakeoverTimeoutError,
  TakeoverUnavailableError,
  TakeoverUntrustedError,
} from "./takeover_error.ts";
export type {
  PeerIdentity,
  ReceivedBytes,
  TakeoverEnv,
} from "./takeover_env.ts";
export {
  CONTROL_SOCKET_MODE,
  DEFAULT_HANDOVER_TIMEOUT_MS,
  type JsonValue,
  MAX_FDS_PER_FRAME,
  TAKEOVER_PROTOCOL_VERSION,
} from "./protocol.ts";
export {
  SEQNUM_BYTES,
  type SeqnumAppState,
  SeqnumService,
  type SeqnumServiceOptions,
} from "./seqnum_server.ts";
export {
  SeqnumClient,
  type SeqnumClientOptions,
  type SeqnumReport,
} from "./seqnum_client.ts";
