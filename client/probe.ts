/**
 * The health probe: one `getstatus` round trip under a hard deadline, for
 * cluster fault monitors whose only input is an exit code.
 */
import { errorMessage, ExitCode, formatHostPort } from "../common/mod.ts";
import { PeerResetError } from "./peer_reset_error.ts";
import { ProtocolError } from "./protocol_error.ts";
import { showBytes, TcpservdClient } from "./tcpservd_client.ts";

/** What a probe found. */
export type ProbeStatus =
  | "GOOD"
  | "BAD"
  | "UNREACHABLE"
  | "RESET"
  | "TIMEOUT"
  | "PROTOCOL_ERROR";

/** The outcome of {@linkcode probe}. */
export interface ProbeResult {
  /** What the probe found. */
  status: ProbeStatus;
  /** Host probed. */
  hostname: string;
  /** Port probed. */
  port: number;
  /** Time from start to the answer (or failure), in seconds. */
  seconds: number;
  /** Why the probe failed, for people; empty when GOOD or BAD. */
  detail: string;
}

/** Options of {@linkcode probe}. */
export interface ProbeOptions {
  /** Hard deadline for the whole probe, in ms. @default {5000} */
  timeoutMs?: number;
  /** Called with each step, for `--debug`. */
  trace?: (message: string) => void;
}

class ProbeTimeout extends Error {
  constructor(ms: number) {
    super(`Timed out after ${ms / 1000} s`);
    this.name = "ProbeTimeout";
  }
}

/**
 * Connects, reads the prompt, sends `getstatus`, reads the reply, sends
 * `quit` and closes. Never throws: every failure becomes a status.
 *
 * The original tcpservd 1.0 (prompt `>`, NUL-padded replies) ends the
 * session itself right after its reply: the probe reads up to its FIN and
 * sends no `quit`. Where it prompts again instead (a build with a BUFSIZ
 * of 1024), the probe sends `quit` and reads to the end, as with tcpkit's
 * server: the original dies of SIGPIPE if its client leaves while it is
 * still in its command loop.
 *
 * @example
 * ```ts ignore
 * import { probe } from "@tcpkit/tcpkit/client";
 * const result = await probe("127.0.0.1", 1971, { timeoutMs: 2000 });
 * if (result.status !== "GOOD") console.error(result.detail);
 * ```
 */
export async function probe(
  hostname: string,
  port: number,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const { timeoutMs = 5000, trace = () => {} } = options;
  const started = performance.now();
  // AbortSignal.timeout, not setTimeout: Deno's global setTimeout is Node's,
  // and its first call loads the Node layer (7-13 ms measured), a fifth of
  // the probe's start-up budget.
  const deadline = AbortSignal.timeout(timeoutMs);
  const target = formatHostPort(hostname, port);
  const result = (status: ProbeStatus, detail = ""): ProbeResult => ({
    status,
    hostname,
    port,
    seconds: (performance.now() - started) / 1000,
    detail,
  });
  let client: TcpservdClient | undefined;
  try {
    trace(`connecting to ${target}`);
    try {
      client = await TcpservdClient.connect(hostname, port, {
        signal: deadline,
      });
    } catch (error) {
      if (
        deadline.aborted || error instanceof ProtocolError ||
        error instanceof PeerResetError
      ) throw error;
      return result(
        "UNREACHABLE",
        `Cannot connect to ${target}: ${message(error)}`,
      );
    }
    trace("sending getstatus");
    const reply = await client.command("getstatus");
    trace(`received "${showBytes(reply)}"`);
    const word = new TextDecoder().decode(reply).trim();
    if (word !== "GOOD" && word !== "BAD") {
      throw new ProtocolError(
        `Expected GOOD or BAD, got "${showBytes(reply)}"`,
      );
    }
    const answered = result(word);
    if (client.serverClosed) {
      trace("the server closed the connection after its reply");
      return answered;
    }
    try {
      trace("sending quit");
      await client.quit();
    } catch (error) {
      // The state is known; a server that closes early does not change it.
      trace(`quit failed: ${message(error)}`);
    }
    return answered;
  } catch (error) {
    if (deadline.aborted) {
      return result(
        "TIMEOUT",
        `${target}: ${new ProbeTimeout(timeoutMs).message}`,
      );
    }
    if (error instanceof PeerResetError) {
      return result("RESET", `${target}: ${error.message}`);
    }
    if (error instanceof ProtocolError) {
      return result("PROTOCOL_ERROR", `${target}: ${error.message}`);
    }
    return result("UNREACHABLE", `${target}: ${message(error)}`);
  } finally {
    client?.close();
  }
}

function message(error: unknown): string {
  return errorMessage(error);
}

/**
 * The exit code of a probe result: 0 GOOD, 1 BAD, 2 anything else
 * (unreachable, reset, timed out, not understood).
 * `failureCode` (tcpcli `-r N`) replaces the code of every failure.
 */
export function probeExitCode(
  result: ProbeResult,
  failureCode?: number,
): number {
  const code = result.status === "GOOD"
    ? ExitCode.OK
    : result.status === "BAD"
    ? ExitCode.UNHEALTHY
    : ExitCode.UNREACHABLE;
  return code !== ExitCode.OK && failureCode !== undefined ? failureCode : code;
}
