/**
 * `tcpcli`: the client of tcpservd. Above all a probe for cluster fault
 * monitors (the exit code is the health); also a scripted sender (`-c`) and
 * a telnet-like session (`-i`).
 *
 * ```sh
 * deno run --allow-net --allow-ffi jsr:@tcpkit/tcpkit/tcpcli -t 2 node1 1971
 * ```
 *
 * @module
 */
import {
  commandPrologue,
  errorMessage,
  ExitCode,
  printErr,
  printOut,
} from "../common/mod.ts";
import { interactive } from "./interactive.ts";
import {
  applySocketCommand,
  closeWithReset,
  parseLocalCommand,
} from "./local_commands.ts";
import { probe, probeExitCode, type ProbeResult } from "./probe.ts";
import { formatProbe, nagiosCode } from "./probe_format.ts";
import { ProtocolError } from "./protocol_error.ts";
import { TcpservdClient } from "./tcpservd_client.ts";
import { parseTcpcliArgs, TCPCLI_USAGE, type TcpcliCli } from "./tcpcli_cli.ts";

const encoder = new TextEncoder();
const DEFAULT_SERVICE = "tcpservd";
const FALLBACK_PORT = 1971;
const DEFAULT_TIMEOUT_MS = 5000;

async function resolvePort(
  cli: TcpcliCli,
  trace: (m: string) => void,
): Promise<number> {
  if (cli.port !== undefined) return cli.port;
  // Loaded only when needed: a probe given a port skips libc entirely.
  const { getServiceByName } = await import("../ffi/mod.ts");
  const service = cli.service ?? DEFAULT_SERVICE;
  const port = getServiceByName(service, "tcp");
  if (port !== null) {
    trace(`service ${service} is port ${port}`);
    return port;
  }
  // Same fallback as tcpservd, so both ends agree on an unknown name.
  if (cli.service !== undefined) {
    printErr(
      `tcpcli: service ${service} not found in /etc/services, using port ${FALLBACK_PORT}\n`,
    );
  }
  return FALLBACK_PORT;
}

async function runCommands(
  cli: TcpcliCli,
  port: number,
  signal: AbortSignal,
): Promise<number> {
  const client = await TcpservdClient.connect(cli.hostname, port, { signal });
  let passive = false;
  let short = false;
  let writeShut = false;
  let lingerZero = false;
  let timeoutMs: number | undefined;
  try {
    for (const [index, command] of cli.commands.entries()) {
      const local = parseLocalCommand(command);
      if (local !== undefined) {
        switch (local.name) {
          case "passive":
            passive = true;
            continue;
          case "short":
            short = true;
            continue;
          case "timeout":
            timeoutMs = local.seconds > 0 ? local.seconds * 1000 : undefined;
            continue;
          case "shut":
          case "linger":
            await applySocketCommand(client.socket, local);
            if (local.name === "shut" && local.how > 0) writeShut = true;
            if (local.name === "linger") lingerZero = local.seconds === 0;
            continue;
          case "bye":
            // After `linger 0`, close as the original client did: an RST, no FIN.
            if (lingerZero) await closeWithReset(client.socket);
            return ExitCode.OK;
          case "die":
            // Leave without close(): the kernel tears the socket down.
            Deno.exit(ExitCode.OK);
        }
      }
      const isQuit = command.trim().toLowerCase() === "quit";
      await client.send(encoder.encode(`${command}\n`), { short });
      if (passive) {
        await client.socket.closeWrite();
        passive = false;
        writeShut = true;
      }
      const { reply, ended, padded } = await client.readReply(
        timeoutMs === undefined ? {} : { timeoutMs },
      );
      if (!cli.quiet) await Deno.stdout.write(reply);
      if (ended === "timeout") {
        printErr(
          `tcpcli: timeout! no reply to "${command}" within ${
            timeoutMs! / 1000
          } s\n`,
        );
        return cli.failureCode ?? ExitCode.UNREACHABLE;
      }
      if (ended === "eof") {
        if (isQuit) return ExitCode.OK;
        // tcpservd 1.0 ends the session after its NUL-padded replies.
        if (padded && index === cli.commands.length - 1) return ExitCode.OK;
        printErr(
          `tcpcli: the server closed the connection after "${command}"${
            padded
              ? " (the original tcpservd 1.0 does after setbad, setgood and getstatus)"
              : ""
          }\n`,
        );
        return cli.failureCode ?? ExitCode.UNREACHABLE;
      }
    }
    // A `quit` cannot be sent once our write side is shut.
    if (!writeShut) await client.quit();
    return ExitCode.OK;
  } finally {
    client.close();
  }
}

/** Runs tcpcli with the given arguments; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "soak") {
    // Loaded on demand: the probe must not pay for the load generator.
    const { soakMain } = await import("./soak.ts");
    return await soakMain(args.slice(1));
  }
  const cli = commandPrologue({
    name: "tcpcli",
    usage: TCPCLI_USAGE,
    parse: parseTcpcliArgs,
  }, args);
  if (typeof cli === "number") return cli;
  const trace = cli.debug
    ? (m: string) => printErr(`tcpcli: ${m}\n`)
    : () => {};
  const port = await resolvePort(cli, trace);

  if (cli.interactive) {
    try {
      const end = await interactive(cli.hostname, port);
      return end === "timeout"
        ? cli.failureCode ?? ExitCode.UNREACHABLE
        : ExitCode.OK;
    } catch (error) {
      printErr(
        `tcpcli: ${errorMessage(error)}\n`,
      );
      return cli.failureCode ?? ExitCode.UNREACHABLE;
    }
  }

  if (cli.commands.length > 0) {
    const abort = new AbortController();
    const timer = cli.timeoutMs === undefined ? undefined : setTimeout(
      () =>
        abort.abort(new Error(`Timed out after ${cli.timeoutMs! / 1000} s`)),
      cli.timeoutMs,
    );
    try {
      return await runCommands(cli, port, abort.signal);
    } catch (error) {
      const why = abort.signal.aborted ? abort.signal.reason : error;
      const kind = error instanceof ProtocolError ? "protocol error" : "error";
      printErr(
        `tcpcli: ${kind}: ${
          why instanceof Error ? why.message : String(why)
        }\n`,
      );
      return cli.failureCode ?? ExitCode.UNREACHABLE;
    } finally {
      clearTimeout(timer);
    }
  }

  const timeoutMs = cli.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const report = (result: ProbeResult): number => {
    const code = cli.format === "nagios"
      ? nagiosCode(result)
      : probeExitCode(result, cli.failureCode);
    if (!cli.quiet) printOut(formatProbe(result, cli.format, code));
    return code;
  };
  // A monitor must never see a probe outlive its deadline, whatever hangs.
  // (AbortSignal.timeout: the global setTimeout would load Node's timers.)
  AbortSignal.timeout(timeoutMs + 250).addEventListener("abort", () => {
    Deno.exit(report({
      status: "TIMEOUT",
      hostname: cli.hostname,
      port,
      seconds: timeoutMs / 1000,
      detail: `Timed out after ${timeoutMs / 1000} s`,
    }));
  });
  return report(await probe(cli.hostname, port, { timeoutMs, trace }));
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
