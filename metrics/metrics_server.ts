/**
 * The `/metrics` HTTP endpoint. Deliberately not `Deno.serve`: its HTTP
 * stack has no limit on connections and no header or idle timeout we can
 * set, so a scraper that opens many connections, or sends its request one
 * byte a minute, would take file descriptors from the server it watches.
 * Scrapes need very little of HTTP/1.1 (one GET, one reply, `Connection:
 * close`), so this serves exactly that over `Deno.listen`, with a cap on
 * connections at once, a short deadline for the request head, a deadline
 * per connection and a cap on the head's size. When every slot is taken,
 * a new connection takes the slot of the oldest one that has not sent its
 * whole head yet: silent connections cannot keep a real scrape out.
 * Prometheus, curl and fetch all scrape it.
 */
import { CONTENT_TYPE } from "./exposition.ts";

/** Options of {@linkcode MetricsServer.listen}. */
export interface MetricsServerOptions {
  /** Address to bind. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Renders the body of one scrape (the text format). */
  render: () => string;
  /** Connections served at once; more are closed at once. @default {4} */
  maxConnections?: number;
  /** Longest a connection may take, request and reply, in ms. @default {10000} */
  timeoutMs?: number;
  /** Longest a client may take to send its whole request head, in ms. @default {2000} */
  headTimeoutMs?: number;
  /** Longest request head (request line and headers), in bytes. @default {8192} */
  maxHeadBytes?: number;
  /** Told when a scrape fails to render (it gets a 500). */
  onError?: (error: unknown) => void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 0x0a;
const CR = 0x0d;

/**
 * Where the request head ends (after the blank line), or -1. Lines may end
 * in CRLF or, as some clients send, a bare LF.
 */
function headEnd(bytes: Uint8Array, length: number): number {
  for (let i = 0; i < length; i++) {
    if (bytes[i] !== LF) continue;
    if (i + 1 < length && bytes[i + 1] === LF) return i + 2;
    if (i + 2 < length && bytes[i + 1] === CR && bytes[i + 2] === LF) {
      return i + 3;
    }
  }
  return -1;
}

interface Reply {
  status: string;
  headers?: Record<string, string>;
  body: string;
  head?: boolean;
}

/**
 * A bounded HTTP endpoint that answers `GET /metrics` (and `HEAD`) with the
 * text format, 404 for any other path, 405 for any other method.
 *
 * @example
 * ```ts ignore
 * import { MetricsServer, Registry } from "./mod.ts";
 * const registry = new Registry();
 * const server = MetricsServer.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   render: () => registry.render(),
 * });
 * console.log(`metrics on 127.0.0.1:${server.addr.port}`);
 * ```
 */
export class MetricsServer {
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  readonly #options: Required<Omit<MetricsServerOptions, "onError">>;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #conns = new Set<Deno.TcpConn>();
  // Connections still sending their request head, oldest first.
  readonly #waiting = new Set<Deno.TcpConn>();
  readonly #loop: Promise<void>;
  #closed = false;
  #scrapes = 0;
  #turnedAway = 0;

  private constructor(
    listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>,
    options: MetricsServerOptions,
  ) {
    this.#listener = listener;
    this.#options = {
      hostname: options.hostname,
      port: options.port,
      render: options.render,
      maxConnections: options.maxConnections ?? 4,
      timeoutMs: options.timeoutMs ?? 10_000,
      headTimeoutMs: options.headTimeoutMs ?? 2000,
      maxHeadBytes: options.maxHeadBytes ?? 8192,
    };
    this.#onError = options.onError;
    this.#loop = this.#acceptLoop();
  }

  /**
   * Binds and starts serving.
   *
   * @throws {Deno.errors.AddrInUse} When the address is taken.
   * @throws {Deno.errors.AddrNotAvailable} When it is not ours.
   */
  static listen(options: MetricsServerOptions): MetricsServer {
    const listener = Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
    });
    return new MetricsServer(listener, options);
  }

  /** The address bound (port 0 resolved). */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** Scrapes answered with 200. */
  get scrapes(): number {
    return this.#scrapes;
  }

  /**
   * Connections closed because {@linkcode MetricsServerOptions.maxConnections}
   * were open: a new one with no slot, or a silent one whose slot a new one
   * took.
   */
  get turnedAway(): number {
    return this.#turnedAway;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const conn of this.#conns) closeQuietly(conn);
    await this.#loop;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) return;
        // EMFILE and the like: wait a little rather than spin.
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (this.#conns.size >= this.#options.maxConnections) {
        this.#turnedAway++;
        // The oldest connection still silent gives its slot up, else the new one goes.
        const silent = this.#waiting.values().next().value;
        if (silent === undefined) {
          closeQuietly(conn);
          continue;
        }
        this.#waiting.delete(silent);
        this.#conns.delete(silent);
        closeQuietly(silent);
      }
      this.#conns.add(conn);
      void this.#serve(conn).finally(() => {
        this.#conns.delete(conn);
        closeQuietly(conn);
      });
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const deadline = setTimeout(
      () => closeQuietly(conn),
      this.#options.timeoutMs,
    );
    this.#waiting.add(conn);
    const headDeadline = setTimeout(
      () => closeQuietly(conn),
      this.#options.headTimeoutMs,
    );
    try {
      const head = await this.#readHead(conn);
      this.#waiting.delete(conn);
      clearTimeout(headDeadline);
      if (head === null) return;
      const reply = typeof head === "string" ? this.#answer(head) : head;
      await writeReply(conn, reply);
    } catch {
      // The peer went away or a deadline closed it: nothing to tell.
    } finally {
      this.#waiting.delete(conn);
      clearTimeout(headDeadline);
      clearTimeout(deadline);
    }
  }

  /** The request line, an error reply, or null when the peer left. */
  async #readHead(conn: Deno.TcpConn): Promise<string | Reply | null> {
    const max = this.#options.maxHeadBytes;
    const buffer = new Uint8Array(max);
    let length = 0;
    while (true) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) return null;
      length += n;
      const end = headEnd(buffer, length);
      if (end >= 0) {
        const text = decoder.decode(buffer.subarray(0, end));
        return text.slice(0, text.indexOf("\n")).replace(/\r$/, "");
      }
      if (length >= max) {
        return {
          status: "431 Request Header Fields Too Large",
          body: `Request head longer than ${max} bytes\n`,
        };
      }
    }
  }

  #answer(requestLine: string): Reply {
    const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
    if (match === null) {
      return { status: "400 Bad Request", body: "Bad request line\n" };
    }
    const [, method, target] = match;
    const path = target!.split("?", 1)[0];
    if (path !== "/metrics") {
      return { status: "404 Not Found", body: "Not found: try /metrics\n" };
    }
    if (method !== "GET" && method !== "HEAD") {
      return {
        status: "405 Method Not Allowed",
        headers: { Allow: "GET, HEAD" },
        body: `Method ${method} not allowed: GET or HEAD\n`,
      };
    }
    let body: string;
    try {
      body = this.#options.render();
    } catch (error) {
      this.#onError?.(error);
      return {
        status: "500 Internal Server Error",
        body: "Metrics failed to render\n",
      };
    }
    this.#scrapes++;
    return {
      status: "200 OK",
      headers: { "Content-Type": CONTENT_TYPE },
      body,
      head: method === "HEAD",
    };
  }
}

async function writeReply(conn: Deno.TcpConn, reply: Reply): Promise<void> {
  const body = encoder.encode(reply.body);
  const headers: Record<string, string> = {
    "Content-Type": "text/plain; charset=utf-8",
    ...reply.headers,
    "Content-Length": String(body.length),
    Connection: "close",
  };
  const head = `HTTP/1.1 ${reply.status}\r\n${
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")
  }\r\n`;
  const headBytes = encoder.encode(head);
  const bytes = new Uint8Array(
    headBytes.length + (reply.head ? 0 : body.length),
  );
  bytes.set(headBytes);
  if (!reply.head) bytes.set(body, headBytes.length);
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
