/**
 * Process exit codes shared by every tcpkit command.
 *
 * Probes follow the cluster-monitor convention: the exit code is the health.
 */
export const ExitCode = {
  /** Success; for a probe, the server says GOOD. */
  OK: 0,
  /** The server answered and says BAD. */
  UNHEALTHY: 1,
  /** Unreachable, refused, timed out, or a reply that is not understood. */
  UNREACHABLE: 2,
  /** Bad command line (sysexits EX_USAGE). */
  USAGE: 64,
  /** Internal error (sysexits EX_SOFTWARE). */
  SOFTWARE: 70,
  /** Cannot bind or use an OS resource (sysexits EX_OSERR). */
  OS_ERROR: 71,
} as const;

/** One of the values of {@linkcode ExitCode}. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];
