/**
 * What every benchmark prints around its measurements: the load average (on a shared machine the number that says how
 * far to trust the others), the one JSON summary line with the host's CPUs, and the exit status of a failed run.
 */
import os from 'node:os';

/** The 1, 5 and 15 minute load averages as one string, e.g. `0.31 1.20 1.35`. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Writes the benchmark's JSON summary line: `{"bench", "cpus", "cpu", …fields}`. */
export function writeSummary(bench: string, fields: Readonly<Record<string, unknown>>): void {
  process.stdout.write(JSON.stringify({ bench, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, ...fields }) + '\n');
}

/** Runs `main`; a failure prints its stack on stderr and exits 1 at once (a server left open must not hang the run). */
export function runBench(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${name} bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
