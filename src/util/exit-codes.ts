/**
 * Exit codes of the aegisbpf CLI; documented in README and docs/cli.md. In util/ because the daemon's run loop
 * (src/daemon/run.ts) returns them as well as the CLI commands.
 */
export const EXIT = {
  /** Success: every event accepted was delivered; the config is valid. */
  OK: 0,
  /** Runtime failure: a source failed, a required sink was unhealthy, an internal error. */
  FAILURE: 1,
  /** Usage or configuration error: nothing was started. */
  USAGE: 2,
  /** Ran to completion, but some input was invalid or some events were not delivered (see the dead-letter file). */
  INCOMPLETE: 3,
  /** Forced exit on a second SIGINT/SIGTERM before the flush finished. */
  FORCED: 130,
} as const;
